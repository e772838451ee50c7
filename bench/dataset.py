"""A deterministic benchmark dataset generated inside PostgreSQL (set-based).

Leads with Japanese names and attributes; page views over 120 days whose
popularity follows a power law over pages and leads (a few leads read a lot);
form submissions; sales activities. Written with INSERT … SELECT over
generate_series, so a million leads load in minutes, not hours.
"""

from __future__ import annotations

from django.db import connection

DAYS = 120
LAST_NAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
FIRST_NAMES = ["太郎", "花子", "一郎", "美咲", "健", "陽子", "翔", "由美"]
INDUSTRIES = ["製造業", "IT・通信", "卸売・小売", "建設", "金融"]


_generated: tuple | None = None


def generate(*, leads: int, events: int, seed: float = 0.2026) -> dict:
    """Generate once per process and size: benchmarks of one run share the data."""
    global _generated
    if _generated == (leads, events, seed):
        return {"leads": leads, "events": events}
    from tracking.partitions import ensure_partitions

    ensure_partitions()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            "TRUNCATE leads_lead, tracking_event, tracking_visit, tracking_visitor RESTART "
            "IDENTITY CASCADE"
        )
        cursor.execute(
            """
            INSERT INTO leads_lead (email, last_name, first_name, last_name_kana, first_name_kana,
                company_name, department, title, phone, industry, employee_count, capital,
                prefecture, address, stage, is_competitor, is_nurture_target,
                first_touch_source, last_touch_source, custom, score, rank, created_at,
                updated_at)
            SELECT 'lead' || g || '@c' || (g %% 20000) || '.example.co.jp',
                   (%(last)s::text[])[1 + g %% 10], (%(first)s::text[])[1 + g %% 8],
                   '', '', '株式会社サンプル' || (g %% 20000), '営業部', '部長', '',
                   (%(industries)s::text[])[1 + g %% 5],
                   (g %% 2000) + 5, NULL, lpad((1 + g %% 47)::text, 2, '0'), '',
                   'awareness', g %% 50 = 0, g %% 10 <> 0, '', '', '{}'::jsonb, 0, 'COLD',
                   now() - (g %% 365) * interval '1 day', now()
            FROM generate_series(1, %(leads)s) g
            """,
            {"leads": leads, "last": LAST_NAMES, "first": FIRST_NAMES, "industries": INDUSTRIES},
        )
        # Page views: lead ids skewed toward low ids (random()^3), times uniform
        # over the window, pages by a power law.
        cursor.execute(
            """
            INSERT INTO tracking_event (event_uid, occurred_at, type, lead_id, url, title,
                                        properties)
            SELECT gen_random_uuid(),
                   now() - random() * interval '120 days',
                   CASE WHEN random() < 0.02 THEN 'form_submit' ELSE 'page_view' END,
                   1 + floor(%s * power(random(), 3))::bigint,
                   'https://bench.example/p/' || floor(power(random(), 4) * 200)::int,
                   'ページ', '{}'::jsonb
            FROM generate_series(1, %s)
            """,
            [leads, events],
        )
        cursor.execute(
            """
            INSERT INTO leads_activity (lead_id, occurred_at, type, content, result, source,
                                        note, created_at, created_by_kind)
            SELECT 1 + floor(%s * random())::bigint, now() - random() * interval '120 days',
                   'phone', '架電', 'continue', 'hot_list', '', now(), 'user'
            FROM generate_series(1, %s)
            """,
            [leads, max(1, leads // 20)],
        )
        cursor.execute("ANALYZE leads_lead; ANALYZE tracking_event; ANALYZE leads_activity")
    _generated = (leads, events, seed)
    return {"leads": leads, "events": events}
