"""Demo data of the lead database for ``manage.py loaddemo``.

About 300 leads of 60 fictional Japanese B2B companies, with tags, custom
fields, activities over the last 120 days, two lists, consents and a few
suppressions.

Idempotency: companies, custom fields, tags and lists are looked up by their
natural key; a lead is created only when its email is new, and only a lead
created in this run gets its history (activities, tag changes, consents,
suppressions), so running ``loaddemo`` again adds nothing and leaves any
edits alone. Deterministic: one ``random.Random(2026)`` drives every choice.
Every domain is a subdomain of ``example.co.jp``, which JPRS reserves for
examples, so no demo address can belong to anyone.

Rows are written with ``bulk_create`` (a few dozen statements in all) after
each lead passes ``check_lead_data``; no signals are sent, since the other
apps' demo loaders build their own data from these rows.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field

from django.db.models.functions import Lower
from django.utils import timezone

from leads.models import (
    Activity,
    ActorKind,
    Company,
    Consent,
    CustomField,
    Lead,
    LeadTag,
    Stage,
    StaticList,
    Suppression,
    TagChange,
)
from leads.services import check_lead_data, list_add, tags_ensure

LEAD_COUNT = 300
HISTORY_DAYS = 120
EXHIBITION = "Japan IT Week 秋 2026"
EXHIBITION_DAYS_AGO = 45

# (name, domain label, industry, employees, capital in yen, prefecture code)
COMPANIES = [
    ("東邦精密工業株式会社", "toho-seimitsu", "製造業", 850, 1_200_000_000, "23"),
    ("株式会社大和電機製作所", "yamato-denki", "製造業", 1_900, 4_500_000_000, "27"),
    ("三協化成株式会社", "sankyo-kasei", "製造業", 420, 300_000_000, "11"),
    ("北斗金属工業株式会社", "hokuto-kinzoku", "製造業", 260, 90_000_000, "15"),
    ("株式会社青葉テクノ", "aoba-techno", "製造業", 130, 50_000_000, "04"),
    ("富士見オートパーツ株式会社", "fujimi-autoparts", "製造業", 2_300, 6_000_000_000, "22"),
    ("新光プラスチック株式会社", "shinko-plastic", "製造業", 75, 30_000_000, "28"),
    ("白鷺食品工業株式会社", "shirasagi-foods", "製造業", 610, 480_000_000, "28"),
    ("朝日ファインケミカル株式会社", "asahi-finechem", "製造業", 340, 250_000_000, "08"),
    ("港南機械株式会社", "konan-kikai", "製造業", 190, 80_000_000, "14"),
    ("株式会社ミライ精工", "mirai-seiko", "製造業", 55, 20_000_000, "20"),
    ("信濃電子株式会社", "shinano-denshi", "製造業", 720, 900_000_000, "20"),
    ("株式会社クラウドブリッジ", "cloudbridge", "IT・通信", 320, 150_000_000, "13"),
    ("株式会社ネクストシステムズ", "next-systems", "IT・通信", 1_100, 800_000_000, "13"),
    ("さくらデータソリューションズ株式会社", "sakura-data", "IT・通信", 240, 100_000_000, "13"),
    ("株式会社ソフトアーク", "softarc", "IT・通信", 68, 30_000_000, "27"),
    (
        "東日本ネットワークサービス株式会社",
        "higashinihon-ns",
        "IT・通信",
        2_800,
        5_000_000_000,
        "04",
    ),
    ("株式会社デジタルフォレスト", "digital-forest", "IT・通信", 45, 10_000_000, "40"),
    ("アイ・ティー・プラネット株式会社", "it-planet", "IT・通信", 510, 300_000_000, "13"),
    ("株式会社テックリンク福岡", "techlink-fukuoka", "IT・通信", 92, 40_000_000, "40"),
    ("株式会社みなとソフトウェア", "minato-software", "IT・通信", 150, 60_000_000, "14"),
    ("ユニバーサル通信株式会社", "universal-tsushin", "IT・通信", 3_400, 12_000_000_000, "13"),
    ("株式会社丸善商事", "maruzen-shoji", "卸売・小売", 380, 200_000_000, "13"),
    ("中央物産株式会社", "chuo-bussan", "卸売・小売", 1_250, 1_000_000_000, "23"),
    ("株式会社いろは堂", "irohado", "卸売・小売", 60, 10_000_000, "26"),
    ("北海道ライフストア株式会社", "hokkaido-lifestore", "卸売・小売", 2_100, 800_000_000, "01"),
    ("株式会社たちばな産業", "tachibana-sangyo", "卸売・小売", 170, 50_000_000, "34"),
    ("東洋ホームセンター株式会社", "toyo-homecenter", "卸売・小売", 3_600, 3_000_000_000, "12"),
    ("株式会社グリーンマート", "green-mart", "卸売・小売", 440, 100_000_000, "11"),
    ("株式会社山田工務店", "yamada-koumuten", "建設", 85, 30_000_000, "13"),
    ("大成ビルテック株式会社", "taisei-biltech", "建設", 930, 1_500_000_000, "13"),
    ("株式会社みちのく建設", "michinoku-kensetsu", "建設", 210, 60_000_000, "07"),
    ("関西設備工業株式会社", "kansai-setsubi", "建設", 360, 120_000_000, "27"),
    ("株式会社アーバンデザイン研究所", "urban-design-lab", "建設", 48, 20_000_000, "14"),
    ("九州ハウジング株式会社", "kyushu-housing", "建設", 520, 300_000_000, "43"),
    ("みらい信用金庫", "mirai-shinkin", "金融", 680, 0, "11"),
    ("株式会社あおぞらリース", "aozora-lease", "金融", 290, 500_000_000, "13"),
    ("東京キャピタル証券株式会社", "tokyo-capital-sec", "金融", 1_400, 10_000_000_000, "13"),
    ("ひまわり損害保険株式会社", "himawari-sonpo", "金融", 2_700, 20_000_000_000, "13"),
    ("株式会社ふるさと銀行", "furusato-bank", "金融", 1_800, 15_000_000_000, "36"),
    ("株式会社ケアパートナーズ", "care-partners", "医療・福祉", 760, 100_000_000, "13"),
    ("医療法人社団さくら会", "sakurakai", "医療・福祉", 430, 0, "12"),
    ("株式会社メディカルブリッジ", "medical-bridge", "医療・福祉", 120, 50_000_000, "27"),
    ("株式会社はやぶさ運輸", "hayabusa-unyu", "運輸・物流", 1_600, 600_000_000, "11"),
    ("西日本ロジスティクス株式会社", "nishinihon-logi", "運輸・物流", 980, 400_000_000, "40"),
    ("株式会社オーシャン海運", "ocean-kaiun", "運輸・物流", 210, 300_000_000, "28"),
    ("株式会社エデュテック", "edutech", "教育", 88, 30_000_000, "13"),
    ("学校法人みなみ学園", "minami-gakuen", "教育", 350, 0, "27"),
    ("株式会社キャリアスクエア", "career-square", "人材サービス", 540, 100_000_000, "13"),
    ("株式会社ワークスタイル研究所", "workstyle-lab", "人材サービス", 70, 10_000_000, "13"),
    ("株式会社ひかり不動産", "hikari-fudosan", "不動産", 260, 100_000_000, "13"),
    ("湘南エステート株式会社", "shonan-estate", "不動産", 95, 30_000_000, "14"),
    ("株式会社グランドホテル京都", "grandhotel-kyoto", "宿泊・飲食", 410, 200_000_000, "26"),
    ("株式会社まんぷくダイニング", "manpuku-dining", "宿泊・飲食", 1_300, 150_000_000, "27"),
    ("日本エネルギーサービス株式会社", "nihon-energy", "電気・ガス", 2_200, 8_000_000_000, "13"),
    ("株式会社アドバンス広告社", "advance-kokoku", "広告・マスコミ", 180, 50_000_000, "13"),
    (
        "株式会社みらいコンサルティング",
        "mirai-consulting",
        "コンサルティング",
        130,
        30_000_000,
        "13",
    ),
    ("瀬戸内水産株式会社", "setouchi-suisan", "農林水産", 150, 40_000_000, "34"),
    ("株式会社あさひ印刷", "asahi-insatsu", "製造業", 240, 80_000_000, "13"),
    ("北陸トランス工業株式会社", "hokuriku-trans", "製造業", 460, 350_000_000, "16"),
]
DOMAIN_SUFFIX = ".example.co.jp"

# (kanji, kana, romaji)
LAST_NAMES = [
    ("佐藤", "サトウ", "sato"), ("鈴木", "スズキ", "suzuki"), ("高橋", "タカハシ", "takahashi"),
    ("田中", "タナカ", "tanaka"), ("伊藤", "イトウ", "ito"), ("渡辺", "ワタナベ", "watanabe"),
    ("山本", "ヤマモト", "yamamoto"), ("中村", "ナカムラ", "nakamura"),
    ("小林", "コバヤシ", "kobayashi"), ("加藤", "カトウ", "kato"), ("吉田", "ヨシダ", "yoshida"),
    ("山田", "ヤマダ", "yamada"), ("佐々木", "ササキ", "sasaki"), ("山口", "ヤマグチ", "yamaguchi"),
    ("松本", "マツモト", "matsumoto"), ("井上", "イノウエ", "inoue"), ("木村", "キムラ", "kimura"),
    ("林", "ハヤシ", "hayashi"), ("斎藤", "サイトウ", "saito"), ("清水", "シミズ", "shimizu"),
    ("山崎", "ヤマザキ", "yamazaki"), ("森", "モリ", "mori"), ("池田", "イケダ", "ikeda"),
    ("橋本", "ハシモト", "hashimoto"), ("阿部", "アベ", "abe"), ("石川", "イシカワ", "ishikawa"),
    ("前田", "マエダ", "maeda"), ("藤田", "フジタ", "fujita"), ("小川", "オガワ", "ogawa"),
    ("岡田", "オカダ", "okada"), ("後藤", "ゴトウ", "goto"), ("長谷川", "ハセガワ", "hasegawa"),
    ("村上", "ムラカミ", "murakami"), ("近藤", "コンドウ", "kondo"), ("石井", "イシイ", "ishii"),
    ("坂本", "サカモト", "sakamoto"), ("遠藤", "エンドウ", "endo"), ("青木", "アオキ", "aoki"),
    ("藤井", "フジイ", "fujii"), ("西村", "ニシムラ", "nishimura"),
]  # fmt: skip
FIRST_NAMES = [
    ("健太", "ケンタ", "kenta"), ("翔太", "ショウタ", "shota"), ("大輔", "ダイスケ", "daisuke"),
    ("直樹", "ナオキ", "naoki"), ("拓也", "タクヤ", "takuya"), ("誠", "マコト", "makoto"),
    ("浩二", "コウジ", "koji"), ("隆", "タカシ", "takashi"), ("亮", "リョウ", "ryo"),
    ("智也", "トモヤ", "tomoya"), ("裕介", "ユウスケ", "yusuke"), ("和也", "カズヤ", "kazuya"),
    ("修", "オサム", "osamu"), ("聡", "サトシ", "satoshi"), ("剛", "ツヨシ", "tsuyoshi"),
    ("美咲", "ミサキ", "misaki"), ("陽子", "ヨウコ", "yoko"), ("彩", "アヤ", "aya"),
    ("恵", "メグミ", "megumi"), ("真由美", "マユミ", "mayumi"), ("優子", "ユウコ", "yuko"),
    ("麻衣", "マイ", "mai"), ("由美", "ユミ", "yumi"), ("直子", "ナオコ", "naoko"),
    ("千尋", "チヒロ", "chihiro"), ("沙織", "サオリ", "saori"), ("香織", "カオリ", "kaori"),
    ("奈々", "ナナ", "nana"), ("早紀", "サキ", "saki"), ("明美", "アケミ", "akemi"),
]  # fmt: skip
# (department, title)
POSITIONS = [
    ("営業部", "部長"), ("営業部", "課長"), ("営業部", "主任"), ("営業企画部", "マネージャー"),
    ("情報システム部", "部長"), ("情報システム部", "課長"), ("情報システム部", "係長"),
    ("経営企画部", "部長"), ("経営企画部", "主任"), ("マーケティング部", "マネージャー"),
    ("マーケティング部", "担当"), ("総務部", "課長"), ("総務部", "担当"), ("人事部", "課長"),
    ("製造部", "工場長"), ("生産管理部", "課長"), ("購買部", "担当"), ("DX推進室", "室長"),
    ("DX推進室", "担当"), ("代表取締役", "社長"), ("取締役", "CIO"),
    ("カスタマーサクセス部", "リーダー"),
]  # fmt: skip
STAGE_WEIGHTS = [
    (Stage.AWARENESS, 34), (Stage.INTEREST, 30), (Stage.CONSIDERATION, 15), (Stage.TRIAL, 7),
    (Stage.CUSTOMER, 8), (Stage.RETENTION, 4), (Stage.ADVOCATE, 2),
]  # fmt: skip
PRODUCTS = ["MAツール", "SFA", "CRM", "名刺管理", "BIツール", "Web接客"]
CUSTOM_FIELDS = [
    # key, label, type, choices, help text
    ("adoption_timing", "導入予定時期", CustomField.Type.DATE, [], "ヒアリングした導入予定の時期"),
    ("budget", "予算", CustomField.Type.NUMBER, [], "年間予算（円）"),
    ("interested_products", "関心製品", CustomField.Type.MULTI_CHOICE, PRODUCTS, ""),
]
TAG_EXHIBITION = "展示会2026"
TAG_DOCUMENT = "資料請求"
TAG_SEMINAR = "セミナー参加"
TAG_LOST = "失注"
TAG_COMPETITOR = "競合"
TAG_NO_CALLS = "コール拒否"
TAG_DESCRIPTIONS = {
    TAG_EXHIBITION: f"{EXHIBITION} のブースで名刺交換",
    TAG_DOCUMENT: "Webフォームから資料請求",
    TAG_SEMINAR: "オンラインセミナーに参加",
    TAG_LOST: "商談が失注に終わった（ナーチャリングへ戻す）",
    TAG_COMPETITOR: "競合企業の担当者",
    TAG_NO_CALLS: "電話でのご案内を希望しない",
}
TAG_SOURCES = {
    TAG_EXHIBITION: f"{EXHIBITION} 名刺データ取り込み",
    TAG_DOCUMENT: "資料請求フォーム",
    TAG_SEMINAR: "セミナー参加者リスト",
}
LIST_EXHIBITION = "展示会2026 来場者フォロー"
LIST_DIG_UP = "掘り起こしリスト（失注・休眠）"
ACTIVITY_CONTENT = {
    "mail": ["お礼メール送付", "事例資料を送付", "見積書を送付", "セミナー案内を送付"],
    "phone": ["不在のため折り返し依頼", "導入時期のヒアリング", "課題のヒアリング", "予算感の確認"],
    "visit": ["製品デモを実施", "提案書を説明", "現場の業務フローを確認"],
    "web_meeting": ["オンラインデモを実施", "要件のすり合わせ", "トライアル環境の説明"],
}


@dataclass
class DemoLead:
    lead: Lead
    tags: list[str] = field(default_factory=list)


def load(context) -> None:
    rng = random.Random(2026)  # demo data: repeatable on purpose
    now = timezone.localtime().replace(minute=0, second=0, microsecond=0)
    users = context.users
    owners = [users[name] for name in ("sales", "inside") if name in users]
    companies = _companies()
    _custom_fields()
    tags = tags_ensure(TAG_DESCRIPTIONS)
    for name, description in TAG_DESCRIPTIONS.items():
        if not tags[name].description:
            tags[name].description = description
            tags[name].save(update_fields=["description"])

    planned = _plan_leads(rng, now, companies, owners)
    existing = set(
        Lead.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[p.lead.email for p in planned])
        .values_list("email_lower", flat=True)
    )
    new = [p for p in planned if p.lead.email not in existing]
    for item in new:
        # The same rules as every other write: a broken demo row fails loudly here.
        check_lead_data(
            {
                "email": item.lead.email,
                "custom": item.lead.custom,
                **{name: getattr(item.lead, name) for name in ("prefecture", "stage")},
            }
        )
    Lead.objects.bulk_create([item.lead for item in new], batch_size=500)
    history = _history(rng, now, new, tags, owners)
    _lists(context, planned)
    if context.stdout is not None:
        context.stdout.write(
            f"Leads: {len(new)} new of {len(planned)} demo leads, {history} history rows."
        )


def _companies() -> dict[str, Company]:
    domains = [label + DOMAIN_SUFFIX for _n, label, *_rest in COMPANIES]
    existing = {c.domain: c for c in Company.objects.filter(domain__in=domains)}
    Company.objects.bulk_create(
        [
            Company(
                name=name,
                domain=label + DOMAIN_SUFFIX,
                industry=industry,
                employee_count=employees,
                capital=capital or None,
            )
            for name, label, industry, employees, capital, _pref in COMPANIES
            if label + DOMAIN_SUFFIX not in existing
        ],
        ignore_conflicts=True,
    )
    return {c.domain: c for c in Company.objects.filter(domain__in=domains)}


def _custom_fields() -> None:
    for position, (key, label, kind, choices, help_text) in enumerate(CUSTOM_FIELDS):
        CustomField.objects.get_or_create(
            key=key,
            defaults={
                "label": label,
                "type": kind,
                "choices": choices,
                "help_text": help_text,
                "position": position,
            },
        )


def _plan_leads(rng: random.Random, now, companies: dict[str, Company], owners) -> list[DemoLead]:
    """The demo leads, fully decided before anything is written (same every run)."""
    # Larger companies have more contacts: weight by the log of employees.
    weights = [max(1, len(str(employees))) ** 2 for *_a, employees, _c, _p in COMPANIES]
    stages = [stage for stage, _w in STAGE_WEIGHTS]
    stage_weights = [weight for _s, weight in STAGE_WEIGHTS]
    used: set[str] = set()
    planned: list[DemoLead] = []
    for index in range(LEAD_COUNT):
        _name, label, industry, employees, capital, prefecture = rng.choices(
            COMPANIES, weights=weights
        )[0]
        company = companies[label + DOMAIN_SUFFIX]
        last, last_kana, last_romaji = rng.choice(LAST_NAMES)
        first, first_kana, first_romaji = rng.choice(FIRST_NAMES)
        local = f"{first_romaji[0]}.{last_romaji}"
        email = f"{local}@{company.domain}"
        suffix = 2
        while email in used:
            email = f"{local}{suffix}@{company.domain}"
            suffix += 1
        used.add(email)
        department, title = rng.choice(POSITIONS)
        stage = rng.choices(stages, weights=stage_weights)[0]
        created_at = _business_hours(rng, now - datetime.timedelta(days=rng.randint(5, 200)))
        tags = _plan_tags(rng, stage)
        if TAG_EXHIBITION in tags:
            # Exhibition leads arrive with the business cards imported that day.
            created_at = _exhibition_day(now)
        owner = (
            rng.choice(owners)
            if owners and (stage != Stage.AWARENESS or rng.random() < 0.3)
            else None
        )
        custom: dict = {}
        if stage != Stage.AWARENESS and rng.random() < 0.6:
            custom["adoption_timing"] = (
                (now.date() + datetime.timedelta(days=30 * rng.randint(1, 12)))
                .replace(day=1)
                .isoformat()
            )
        if rng.random() < 0.4:
            custom["budget"] = rng.choice((50, 100, 200, 300, 500, 800, 1200)) * 10_000
        if rng.random() < 0.6:
            custom["interested_products"] = sorted(
                rng.sample(PRODUCTS, rng.randint(1, 3)), key=PRODUCTS.index
            )
        first_touch = (
            f"展示会 {EXHIBITION}"
            if TAG_EXHIBITION in tags
            else "Web 資料請求フォーム"
            if TAG_DOCUMENT in tags
            else rng.choice(("Web 検索", "紹介", "広告 (リスティング)", "セミナー"))
        )
        lead = Lead(
            email=email,
            last_name=last,
            first_name=first,
            last_name_kana=last_kana,
            first_name_kana=first_kana,
            company=company,
            company_name=company.name,
            department=department,
            title=title,
            phone=f"0{rng.choice((3, 6, 52, 92, 11))}-0000-{1000 + index:04d}",
            industry=industry,
            employee_count=employees,
            capital=capital or None,
            prefecture=prefecture,
            stage=stage,
            owner=owner,
            is_competitor=TAG_COMPETITOR in tags,
            first_touch_source=first_touch,
            last_touch_source=first_touch,
            custom=custom,
            created_at=created_at,
        )
        planned.append(DemoLead(lead=lead, tags=tags))
    return planned


def _exhibition_day(now: datetime.datetime) -> datetime.datetime:
    return timezone.localtime(now - datetime.timedelta(days=EXHIBITION_DAYS_AGO)).replace(hour=11)


def _business_hours(rng: random.Random, day: datetime.datetime) -> datetime.datetime:
    """A moment on that day, or the weekday before it, between 9:00 and 18:00 local time."""
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return timezone.localtime(day).replace(
        hour=rng.randint(9, 17), minute=rng.choice((0, 10, 15, 20, 30, 40, 45, 50)), second=0
    )


def _plan_tags(rng: random.Random, stage: str) -> list[str]:
    tags = []
    if rng.random() < 0.3:
        tags.append(TAG_EXHIBITION)
    if rng.random() < 0.35:
        tags.append(TAG_DOCUMENT)
    if rng.random() < 0.2:
        tags.append(TAG_SEMINAR)
    if stage in (Stage.INTEREST, Stage.AWARENESS) and rng.random() < 0.08:
        tags.append(TAG_LOST)
    if rng.random() < 0.02:
        tags.append(TAG_COMPETITOR)
    if rng.random() < 0.04:
        tags.append(TAG_NO_CALLS)
    return tags


def _history(rng: random.Random, now, new: list[DemoLead], tags, owners) -> int:
    """Tags, tag changes, consents, suppressions and activities of the new leads."""
    lead_tags, tag_changes, consents, suppressions, activities = [], [], [], [], []
    exhibition_at = _exhibition_day(now)
    for item in new:
        lead = item.lead
        request_at = lead.created_at
        for name in item.tags:
            added_at = lead.created_at
            if name == TAG_DOCUMENT and TAG_EXHIBITION in item.tags:
                # Met at the exhibition, requested documents on the web afterwards.
                added_at = request_at = _business_hours(
                    rng, exhibition_at + datetime.timedelta(days=rng.randint(2, 30))
                )
            if name == TAG_LOST:
                added_at = _business_hours(rng, now - datetime.timedelta(days=rng.randint(10, 90)))
            kind = ActorKind.IMPORT if name == TAG_EXHIBITION else ActorKind.FORM
            if name in (TAG_LOST, TAG_COMPETITOR, TAG_NO_CALLS):
                kind = ActorKind.USER
            lead_tags.append(
                LeadTag(lead=lead, tag=tags[name], added_at=added_at, added_by_kind=kind)
            )
            tag_changes.append(
                TagChange(
                    lead=lead,
                    tag=tags[name],
                    action=TagChange.Action.ADDED,
                    actor_kind=kind,
                    occurred_at=added_at,
                    source_ref=TAG_SOURCES.get(name, ""),
                )
            )
        if TAG_EXHIBITION in item.tags:
            consents.append(
                Consent(
                    lead=lead,
                    basis=Consent.Basis.BUSINESS_CARD,
                    source_ref=f"{EXHIBITION} 名刺交換",
                    text_shown="名刺交換時に、製品・セミナーのご案内をお送りすることをお伝えしました。",
                    obtained_at=exhibition_at,
                )
            )
        if TAG_DOCUMENT in item.tags:
            consents.append(
                Consent(
                    lead=lead,
                    basis=Consent.Basis.FORM,
                    source_ref="資料請求フォーム v3",
                    text_shown="お役立ち情報やセミナーのご案内をメールでお送りします。",
                    obtained_at=request_at,
                )
            )
        if TAG_NO_CALLS in item.tags:
            suppressions.append(
                Suppression(
                    lead=lead,
                    channel=Suppression.Channel.PHONE,
                    reason=Suppression.Reason.MANUAL,
                    detail="電話でのご案内は不要との申し出",
                    created_at=lead.created_at + datetime.timedelta(days=3),
                )
            )
        elif rng.random() < 0.02:
            suppressions.append(
                Suppression(
                    lead=lead,
                    channel=Suppression.Channel.EMAIL,
                    reason=Suppression.Reason.UNSUBSCRIBE,
                    detail="メール内の配信停止リンク",
                    created_at=_business_hours(
                        rng, now - datetime.timedelta(days=rng.randint(1, 60))
                    ),
                )
            )
        lead_activities = _plan_activities(rng, now, item, owners)
        activities += lead_activities
        if lead_activities:
            lead.last_activity_at = max(a.occurred_at for a in lead_activities)
    LeadTag.objects.bulk_create(lead_tags, batch_size=1000)
    TagChange.objects.bulk_create(tag_changes, batch_size=1000)
    Consent.objects.bulk_create(consents, batch_size=1000)
    Suppression.objects.bulk_create(suppressions, batch_size=1000)
    Activity.objects.bulk_create(activities, batch_size=1000)
    Lead.objects.bulk_update(
        [item.lead for item in new if item.lead.last_activity_at],
        ["last_activity_at"],
        batch_size=500,
    )
    return len(lead_tags) + len(tag_changes) + len(consents) + len(suppressions) + len(activities)


def _plan_activities(rng: random.Random, now, item: DemoLead, owners) -> list[Activity]:
    lead = item.lead
    if lead.owner is None and rng.random() < 0.7:
        return []
    count = {
        Stage.AWARENESS: 1,
        Stage.INTEREST: 2,
        Stage.CONSIDERATION: 4,
        Stage.TRIAL: 5,
    }.get(lead.stage, 3)
    source = (
        "seminar"
        if TAG_SEMINAR in item.tags
        else "document_request"
        if TAG_DOCUMENT in item.tags
        else "dig_up_list"
        if TAG_LOST in item.tags
        else rng.choice(("hot_list", "whitepaper", "other"))
    )
    earliest = max(lead.created_at, now - datetime.timedelta(days=HISTORY_DAYS))
    days = max(1, (now - earliest).days)
    moments = sorted(
        _business_hours(rng, earliest + datetime.timedelta(days=rng.randint(1, days)))
        for _ in range(rng.randint(0, count))
    )
    moments = [moment for moment in moments if earliest < moment < now]
    activities = []
    for position, moment in enumerate(moments):
        kind = rng.choices(("phone", "mail", "web_meeting", "visit"), weights=(5, 4, 2, 1))[0]
        if TAG_NO_CALLS in item.tags and kind == "phone":
            kind = "mail"
        last = position == len(moments) - 1
        if last and lead.stage in (Stage.CONSIDERATION, Stage.TRIAL, Stage.CUSTOMER):
            result = "opportunity"
        elif last and TAG_LOST in item.tags:
            result = "archive"
        else:
            result = "continue"
        actor = lead.owner or (rng.choice(owners) if owners else None)
        activities.append(
            Activity(
                lead=lead,
                occurred_at=moment,
                type=kind,
                content=rng.choice(ACTIVITY_CONTENT[kind]),
                actor=actor,
                result=result,
                source=source,
                created_at=moment,
                created_by_kind=ActorKind.USER,
            )
        )
    return activities


def _lists(context, planned: list[DemoLead]) -> None:
    """Two lists; adding is idempotent (only leads not yet on a list are added)."""
    creator = context.users.get("marketer")
    exhibition, _created = StaticList.objects.get_or_create(
        name=LIST_EXHIBITION,
        defaults={"description": f"{EXHIBITION} で名刺交換した方", "created_by": creator},
    )
    dig_up, _created = StaticList.objects.get_or_create(
        name=LIST_DIG_UP,
        defaults={"description": "失注・休眠リードの掘り起こし対象", "created_by": creator},
    )
    emails = {
        LIST_EXHIBITION: [p.lead.email for p in planned if TAG_EXHIBITION in p.tags],
        LIST_DIG_UP: [
            p.lead.email
            for p in planned
            if TAG_LOST in p.tags or (p.lead.stage == Stage.AWARENESS and not p.tags)
        ],
    }
    for static_list in (exhibition, dig_up):
        lead_ids = list(
            Lead.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=emails[static_list.name])
            .values_list("pk", flat=True)
        )
        list_add(
            static_list=static_list, lead_ids=lead_ids, actor_kind=ActorKind.IMPORT, by=creator
        )
