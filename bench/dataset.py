"""A deterministic benchmark dataset generated inside PostgreSQL (set-based).

What a B2B company's Kizuki holds after a few years, at any size:
- companies (one per 50 leads) with industry, size and capital;
- leads with Japanese names, titles, prefectures, stages, owners' share of
  competitors and nurture targets, first/last-touch sources;
- tags: 失注 (lost deal) on 3 %, 資料請求 on 10 %, セミナー参加 on 5 %;
- one browser (visitor) per lead, a fifth of them identified by a form after
  browsing anonymously (``tracking_identification``), plus never-identified
  anonymous visitors whose events have no lead;
- 120 days of events: page views (pages by a Zipf-like power law, leads
  skewed so a few read a lot), downloads, form submissions, email opens and
  clicks, seminar attendance; visits derived per visitor and day;
- sales activities (phone, mail, visit, web meeting) on 5 % of leads, with
  results and sources, and each lead's last activity time.

Every table is filled with INSERT … SELECT over generate_series inside the
server: no rows cross the network, so 1M leads and 30M events load in
minutes (the same work as COPY, without the client in the middle).
"""

from __future__ import annotations

import time

from django.db import connection

DAYS = 120
LAST_NAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
FIRST_NAMES = ["太郎", "花子", "一郎", "美咲", "健", "陽子", "翔", "由美"]
INDUSTRIES = ["製造業", "IT・通信", "卸売・小売", "建設", "金融"]
TITLES = ["部長", "課長", "主任", "担当", "取締役"]
STAGES = ["awareness"] * 6 + ["interest"] * 2 + ["consideration", "customer"]
SOURCES = ["google / cpc", "newsletter", "seminar", "direct", "展示会"]
PAGES = 200
#: Mean events per visit of the distribution below (1 + floor(Exp(2.2)), at most 8).
VIEWS_PER_VISIT = 2.66
#: Event types by share of all events (the rest are page views).
MIX = [
    ("download", 0.03),
    ("form_submit", 0.02),
    ("email_open", 0.05),
    ("email_click", 0.02),
    ("seminar_attended", 0.003),
]


#: Bump when the generator changes: a stored dataset of another version is rebuilt.
VERSION = 2
MARKER = "bench_dataset"


def _stored_marker() -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER} (leads int, events bigint, seed float8, "
            "version int, made_at timestamptz DEFAULT now())"
        )
        cursor.execute(f"SELECT leads, events, seed, version FROM {MARKER}")
        row = cursor.fetchone()
    return tuple(row) if row else None


def forget() -> None:
    """A benchmark emptied the tables: the next ``generate`` builds them again."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {MARKER}")


def generate(*, leads: int, events: int, seed: float = 0.2026) -> dict:
    """Build the dataset unless the bench database already holds this one (same
    size, seed and generator version): benchmarks of one run, and runs after
    it, share the data. Returns the row counts and the seconds each step took."""
    if _stored_marker() == (leads, events, seed, VERSION):
        return {"leads": leads, "events": events, "reused": True}
    forget()
    from tracking.partitions import ensure_partitions

    ensure_partitions()
    companies = max(10, leads // 50)
    anonymous = max(1, leads // 5)
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: dict | None = None) -> None:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params or {})  # always formatted: %% means %
        timings[name] = round(time.perf_counter() - started, 2)

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            "TRUNCATE leads_company, leads_lead, leads_tag, tracking_event, tracking_visit, "
            "tracking_visitor, tracking_identification, tracking_site RESTART IDENTITY CASCADE"
        )
    step(
        "companies",
        """
        INSERT INTO leads_company (name, domain, industry, employee_count, capital, created_at)
        SELECT '株式会社サンプル' || g, 'c' || g || '.example.co.jp',
               (%(industries)s::text[])[1 + g %% 5], 5 + (power(random(), 2) * 5000)::int,
               (10 + floor(random() * 990))::bigint * 1000000, now() - interval '3 years'
        FROM generate_series(1, %(companies)s) g
        """,
        {"companies": companies, "industries": INDUSTRIES},
    )
    step(
        "leads",
        """
        INSERT INTO leads_lead (email, last_name, first_name, last_name_kana, first_name_kana,
            company_name, department, title, phone, industry, employee_count, capital,
            prefecture, address, stage, is_competitor, is_nurture_target,
            first_touch_source, last_touch_source, custom, score, rank, created_at,
            updated_at, company_id)
        SELECT 'lead' || g || '@c' || c.id || '.example.co.jp',
               (%(last)s::text[])[1 + g %% 10], (%(first)s::text[])[1 + g %% 8],
               '', '', c.name, '営業部', (%(titles)s::text[])[1 + g %% 5],
               '03-' || lpad((g %% 10000)::text, 4, '0') || '-' || lpad((g %% 7919)::text, 4, '0'),
               c.industry, c.employee_count, c.capital, lpad((1 + g %% 47)::text, 2, '0'), '',
               (%(stages)s::text[])[1 + g %% 10], g %% 50 = 0, g %% 10 <> 0,
               (%(sources)s::text[])[1 + g %% 5], (%(sources)s::text[])[1 + (g / 7) %% 5],
               '{}'::jsonb, 0, 'COLD', now() - (g %% 1000) * interval '1 day', now(), c.id
        FROM generate_series(1, %(leads)s) g
        JOIN leads_company c ON c.id = 1 + g %% %(companies)s
        """,
        {
            "leads": leads, "companies": companies, "last": LAST_NAMES, "first": FIRST_NAMES,
            "titles": TITLES, "stages": STAGES, "sources": SOURCES,
        },
    )  # fmt: skip
    step(
        "tags",
        """
        INSERT INTO leads_tag (name, description, created_at)
        VALUES ('失注', '', now()), ('資料請求', '', now()), ('セミナー参加', '', now());
        INSERT INTO leads_leadtag (added_at, added_by_kind, lead_id, tag_id)
        SELECT now() - random() * interval '300 days', 'import', l.id, t.id
        FROM leads_lead l JOIN leads_tag t
          ON (t.name = '失注' AND l.id %% 33 = 1) OR (t.name = '資料請求' AND l.id %% 10 = 2)
          OR (t.name = 'セミナー参加' AND l.id %% 20 = 3)
        """,
    )
    from tracking.models import Site

    site = Site.objects.create(name="bench", key="bench-site-key", domains=["bench.example"])
    step(
        "visitors",
        """
        INSERT INTO tracking_visitor (id, site_id, anon_id, lead_id, first_seen_at,
            last_seen_at, visit_count, page_view_count, device_type, ip, first_touch)
        SELECT g, %(site)s, 'anon-' || g, CASE WHEN g <= %(leads)s THEN g END,
               now() - interval '120 days', now(), 0, 0,
               (ARRAY['desktop', 'desktop', 'mobile', 'tablet'])[1 + g %% 4], NULL, '{}'::jsonb
        FROM generate_series(1, %(visitors)s) g;
        SELECT setval(pg_get_serial_sequence('tracking_visitor', 'id'), %(visitors)s);
        INSERT INTO tracking_identification (visitor_id, lead_id, method, events_attributed,
                                             identified_at)
        SELECT g, g, 'form', 0, now() - random() * interval '100 days'
        FROM generate_series(1, %(leads)s) g WHERE g %% 5 = 0
        """,
        {"leads": leads, "visitors": leads + anonymous, "site": site.pk},
    )
    # Visits first (a tenth from anonymous visitors; leads skewed toward low
    # ids by random()^3), in time order, 1–8 page views each (about 3); then
    # their events, also in time order, with time-ordered ids (like UUIDv7),
    # so every index grows at its end instead of being written at random.
    step(
        "visits",
        """
        INSERT INTO tracking_visit (visitor_id, lead_id, started_at, last_event_at, page_views,
                                    landing_url, referrer, utm, device_type)
        SELECT visitor, CASE WHEN NOT anon THEN visitor END, started,
               started + (views - 1) * interval '40 seconds', views,
               'https://bench.example/p/' || floor(power(random(), 4) * %(pages)s)::int,
               '', '{}'::jsonb, 'desktop'
        FROM (
            SELECT anon, now() - random() * interval '%(days)s days' AS started,
                   least(8, 1 + floor(-ln(1 - random()) * 2.2))::int AS views,
                   CASE WHEN anon THEN %(leads)s + 1 + floor(random() * %(anonymous)s)::bigint
                        ELSE 1 + floor(%(leads)s * power(random(), 3))::bigint END AS visitor
            FROM (SELECT random() < 0.1 AS anon FROM generate_series(1, %(visits)s)) s
        ) v
        ORDER BY started
        """,
        {
            "leads": leads, "anonymous": anonymous, "days": DAYS, "pages": PAGES,
            "visits": max(1, round(events / VIEWS_PER_VISIT)),
        },
    )  # fmt: skip
    case = "CASE " + " ".join(
        f"WHEN r < {sum(share for _t, share in MIX[: i + 1])} THEN '{name}'"
        for i, (name, _share) in enumerate(MIX)
    ) + " ELSE 'page_view' END"  # fmt: skip
    step(
        "events",
        f"""
        INSERT INTO tracking_event (event_uid, occurred_at, type, site_id, visitor_id, visit_id,
                                    lead_id, url, title, properties)
        SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0')
                || substr(md5(random()::text), 1, 20))::uuid,
               at, {case}, {site.pk}, visitor_id, id, lead_id,
               'https://bench.example/p/' || page, 'ページ ' || page,
               CASE WHEN r < {MIX[0][1]} THEN '{{"file": "whitepaper.pdf"}}'::jsonb
                    ELSE '{{}}'::jsonb END
        FROM (
            SELECT v.id, v.visitor_id, v.lead_id, random() AS r,
                   v.started_at + (n - 1) * interval '40 seconds' AS at,
                   floor(power(random(), 4) * {PAGES})::int AS page
            FROM tracking_visit v CROSS JOIN LATERAL generate_series(1, v.page_views) n
            ORDER BY v.id, n
        ) e
        """,
    )
    step(
        "visitor totals",
        """
        UPDATE tracking_visitor v SET visit_count = s.visits, page_view_count = s.views,
               last_seen_at = s.last
        FROM (SELECT visitor_id, count(*) AS visits, sum(page_views) AS views,
                     max(last_event_at) AS last FROM tracking_visit GROUP BY visitor_id) s
        WHERE v.id = s.visitor_id
        """,
    )
    step(
        "activities",
        """
        INSERT INTO leads_activity (lead_id, occurred_at, type, content, result, source,
                                    note, created_at, created_by_kind)
        SELECT 1 + floor(%(leads)s * random())::bigint, now() - random() * interval '120 days',
               (ARRAY['phone', 'mail', 'visit', 'web_meeting'])[1 + g %% 4], '架電・メール',
               (ARRAY['continue', 'continue', 'opportunity', 'archive'])[1 + (g / 4) %% 4],
               (ARRAY['hot_list', 'whitepaper', 'seminar', 'other'])[1 + (g / 3) %% 4],
               '', now(), 'user'
        FROM generate_series(1, %(activities)s) g;
        UPDATE leads_lead l SET last_activity_at = a.last
        FROM (SELECT lead_id, max(occurred_at) AS last FROM leads_activity GROUP BY lead_id) a
        WHERE l.id = a.lead_id
        """,
        {"leads": leads, "activities": max(1, leads // 20)},
    )
    started = time.perf_counter()
    # VACUUM as autovacuum would have long since done on a live site: it sets
    # the visibility map (index-only scans skip the heap) and summarizes the
    # BRIN ranges of the events written after the index was created (without
    # it a time-range scan reads whole partitions).
    with connection.cursor() as cursor:
        for table in ("leads_company", "leads_lead", "leads_leadtag", "tracking_visitor",
                      "tracking_visit", "tracking_event", "leads_activity"):  # fmt: skip
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    timings["vacuum_analyze"] = round(time.perf_counter() - started, 2)
    _stored_marker()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MARKER} (leads, events, seed, version) VALUES (%s, %s, %s, %s)",
            [leads, events, seed, VERSION],
        )
    return {"leads": leads, "events": events, "seconds": timings}
