"""factory-boy factories for lead data."""

import factory
from django.contrib.auth import get_user_model

from leads.models import ActorKind, Company, Lead, StaticList, Tag


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    last_name = "山田"
    first_name = "太郎"
    is_staff = True


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"株式会社テスト{n}")
    domain = factory.Sequence(lambda n: f"test{n}.co.jp")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@example.co.jp")
    last_name = "佐藤"
    first_name = factory.Sequence(lambda n: f"花子{n}")
    company_name = "株式会社サンプル"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"タグ{n}")


class StaticListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaticList

    name = factory.Sequence(lambda n: f"リスト{n}")


ACTOR = ActorKind.USER
