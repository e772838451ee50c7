"""The cadence emails' contents (plain text, in the site language)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext as _

from leads.selectors import user_display_name
from scoring.hotlists.models import HotListMail, HotListMember, MailKind
from scoring.hotlists.selectors import run_members, run_summary, unfollowed_members


def workbench_url(run_id: int, member_id: int | None = None) -> str:
    url = f"{settings.PUBLIC_URL}/workbench/?run={run_id}"
    return f"{url}&member={member_id}" if member_id else url


def _line(member: HotListMember, *, owner: bool = False) -> str:
    lead = member.lead
    company = lead.company.name if lead.company_id else lead.company_name
    parts = [f"#{member.position}", member.rank, str(member.score), lead.full_name or lead.email]
    if company:
        parts.append(company)
    if owner:
        parts.append(
            _("owner: %(name)s") % {"name": user_display_name(lead.owner)}
            if lead.owner
            else _("no owner yet")
        )
    return " ".join(parts) + "\n    " + workbench_url(member.run_id, member.pk)


def _publish(mail: HotListMail) -> tuple[str, str]:
    run, hot_list = mail.run, mail.run.hot_list
    members = run_members(run).filter(removed_at__isnull=True)
    top = list(members[: hot_list.top_count])
    total = members.count()
    subject = _("[HOT list] %(name)s, week of %(week)s: %(count)d leads") % {
        "name": hot_list.name, "week": f"{run.week_start:%Y-%m-%d}", "count": total,
    }  # fmt: skip
    lines = [
        _("This week's “%(name)s” has %(count)d leads (%(carried)d carried over from last week).")
        % {"name": hot_list.name, "count": total, "carried": run.carried_over_count},
        "",
        _("The first %(top)d by priority:") % {"top": len(top)},
        *(_line(m, owner=True) for m in top),
        "",
        _("Open the workbench: %(url)s") % {"url": workbench_url(run.pk)},
    ]
    return subject, "\n".join(lines)


def _remind(mail: HotListMail) -> tuple[str, str]:
    run, hot_list = mail.run, mail.run.hot_list
    unfollowed = list(unfollowed_members(run))
    yours = [m for m in unfollowed if mail.user_id and m.lead.owner_id == mail.user_id]
    in_team = hot_list.team.filter(pk=mail.user_id).exists() if mail.user_id else False
    subject = _("[Reminder] %(name)s: %(count)d leads not followed yet") % {
        "name": hot_list.name, "count": len(unfollowed),
    }  # fmt: skip
    lines = [
        _("These leads of “%(name)s” (week of %(week)s) have no activity since the list was made.")
        % {"name": hot_list.name, "week": f"{run.week_start:%Y-%m-%d}"},
        "",
    ]
    if yours:
        lines += [_("Yours (%(count)d):") % {"count": len(yours)}, *(_line(m) for m in yours), ""]
    if in_team:
        lines += [
            _("The whole list (%(count)d):") % {"count": len(unfollowed)},
            *(_line(m, owner=True) for m in unfollowed),
            "",
        ]
    lines.append(_("Open the workbench: %(url)s") % {"url": workbench_url(run.pk)})
    return subject, "\n".join(lines)


def _report(mail: HotListMail) -> tuple[str, str]:
    run, hot_list = mail.run, mail.run.hot_list
    summary = run_summary(run)
    subject = _("[Weekly report] %(name)s, week of %(week)s") % {
        "name": hot_list.name, "week": f"{run.week_start:%Y-%m-%d}",
    }  # fmt: skip
    lines = [
        _("Members: %(count)d") % {"count": summary.members},
        _("Followed: %(count)d") % {"count": summary.followed},
        _("Not followed: %(count)d") % {"count": len(summary.not_followed)},
        _("Taken off the list: %(count)d") % {"count": summary.removed},
        "",
        _("Outcomes:"),
        _("  Opportunity: %(count)d") % {"count": summary.outcomes.get("opportunity", 0)},
        _("  Continue follow-up: %(count)d") % {"count": summary.outcomes.get("continue", 0)},
        _("  Archive: %(count)d") % {"count": summary.outcomes.get("archive", 0)},
        "",
    ]
    if summary.not_followed:
        lines += [_("Not followed:"), *(_line(m, owner=True) for m in summary.not_followed)]
    else:
        lines.append(_("Every lead on the list was followed."))
    return subject, "\n".join(lines)


BUILDERS = {MailKind.PUBLISH: _publish, MailKind.REMIND: _remind, MailKind.REPORT: _report}


def build_message(mail: HotListMail) -> EmailMessage:
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = BUILDERS[mail.kind](mail)
    return EmailMessage(
        subject=subject,
        body=body,
        to=[mail.recipient],
        headers={"Message-ID": f"<hotlist-mail-{mail.pk}@kizuki.invalid>"},
    )
