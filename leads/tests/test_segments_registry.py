"""Block kinds registered by other apps, and preset segments."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Exists, OuterRef, Q

from leads.models import Company, Segment
from leads.segments import (
    BlockKind,
    block_kinds,
    check_segment,
    describe_blocks,
    install_presets,
    register_block,
    register_preset,
    segment_leads,
    unregister_block,
)
from leads.segments import params as p
from leads.segments.presets import unregister_preset
from leads.segments.registry import CompileContext
from leads.tests.factories import CompanyFactory, LeadFactory


class CompanyIndustryBlock(BlockKind):
    """What an app outside leads would register: a condition over its own
    table, correlated to the lead."""

    name = "company_industry"
    label = "Company industry"

    def validate(self, params: dict) -> dict:
        p.reject_unknown(params, ("value",))
        return {"value": p.clean_text(p.require(params, "value"))}

    def compile(self, params: dict, context: CompileContext) -> Q:
        return Q(
            Exists(Company.objects.filter(pk=OuterRef("company_id"), industry=params["value"]))
        )

    def describe(self, params: dict) -> str:
        return f"company in {params['value']}"


@pytest.fixture
def company_industry_kind():
    register_block(CompanyIndustryBlock())
    yield
    unregister_block("company_industry")


def test_a_registered_kind_is_validated_compiled_and_listed(db, company_industry_kind):
    # given
    maker = CompanyFactory(industry="製造業")
    LeadFactory(email="maker@example.jp", company=maker)
    LeadFactory(email="it@example.jp", company=CompanyFactory(industry="IT"))
    LeadFactory(email="nocompany@example.jp")
    blocks = {"1": {"kind": "company_industry", "value": " 製造業 "}}
    # then
    assert check_segment("1", blocks) == {"1": {"kind": "company_industry", "value": "製造業"}}
    found = segment_leads("NOT 1", blocks).values_list("email", flat=True)
    assert set(found) == {"it@example.jp", "nocompany@example.jp"}
    assert "company_industry" in [kind.name for kind in block_kinds()]
    assert describe_blocks(check_segment("1", blocks)) == [("1", "company in 製造業")]
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "company_industry"}})
    assert info.value.message_dict == {"blocks.1.value": ["This parameter is required."]}


def test_without_registration_the_kind_is_unknown(db):
    with pytest.raises(ValidationError) as info:
        check_segment("1", {"1": {"kind": "company_industry", "value": "IT"}})
    assert "is not a kind of block" in info.value.message_dict["blocks.1.kind"][0]


def test_a_name_cannot_be_taken_twice(company_industry_kind):
    class Other(CompanyIndustryBlock):
        pass

    with pytest.raises(ImproperlyConfigured):
        register_block(Other())
    # the same class again (a module imported twice) is fine
    register_block(CompanyIndustryBlock)


def test_an_error_without_a_parameter_is_keyed_by_the_block(db):
    class Picky(BlockKind):
        name = "picky"
        label = "Picky"

        def validate(self, params: dict) -> dict:
            raise ValidationError("Not today.")

        def compile(self, params, context):  # never reached: validate refuses
            raise AssertionError("compiled a block that did not validate")

    register_block(Picky())
    try:
        with pytest.raises(ValidationError) as info:
            check_segment("1", {"1": {"kind": "picky"}})
        assert info.value.message_dict == {"blocks.1": ["Not today."]}
    finally:
        unregister_block("picky")


PRESET_NAME = "HOTリード(テスト)"


@pytest.fixture
def hot_preset():
    register_preset(
        "test-hot",
        PRESET_NAME,
        "1 AND NOT 2",
        {
            "1": {"kind": "company_industry", "value": "製造業"},
            "2": {"kind": "activities", "op": ">=", "value": 1},
        },
        description="seed 004",
    )
    yield
    unregister_preset("test-hot")


def installed_test_presets() -> list[Segment]:
    # Other apps' presets may be installed alongside; only ours is looked at.
    return [segment for segment in install_presets() if segment.name == PRESET_NAME]


def test_presets_are_installed_once_their_kinds_exist(db, hot_preset):
    # A preset whose kinds are not registered yet waits.
    assert installed_test_presets() == []
    register_block(CompanyIndustryBlock())
    try:
        installed = installed_test_presets()
        again = installed_test_presets()
    finally:
        unregister_block("company_industry")
    assert len(installed) == 1
    assert [s.pk for s in again] == [installed[0].pk]
    assert Segment.objects.filter(name=PRESET_NAME).count() == 1
    segment = Segment.objects.get(name=PRESET_NAME)
    assert segment.is_preset and segment.description == "seed 004"
    assert segment.expression == "1 AND NOT 2"


def test_a_marketers_segment_with_the_preset_name_is_left_alone(db, hot_preset):
    Segment.objects.create(name=PRESET_NAME, expression="1", blocks={"1": {}})
    register_block(CompanyIndustryBlock())
    try:
        assert installed_test_presets() == []
    finally:
        unregister_block("company_industry")
    mine = Segment.objects.get(name=PRESET_NAME)
    assert not mine.is_preset and mine.blocks == {"1": {}}
