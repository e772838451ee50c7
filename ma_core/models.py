from django.db import models
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    """The company that runs this Kizuki (one row).

    Its name and postal address appear as the sender in marketing mail, as
    特定電子メール法 requires.
    """

    name = models.CharField(_("company name"), max_length=200)
    postal_address = models.CharField(_("postal address"), max_length=300, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organization")

    def __str__(self) -> str:
        return self.name
