import django_filters
from django import forms
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from core.status import DeviceAggregatedStatus
from core.tags import parse_tag_filter
from devices.models import Device


def _check_tag(value: str) -> None:
    try:
        parse_tag_filter(value)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None


class DeviceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="istartswith", label="Name starts with")
    status = django_filters.ChoiceFilter(
        choices=DeviceAggregatedStatus.choices, field_name="aggregated", label="Status"
    )
    tag = django_filters.CharFilter(
        method="filter_tag",
        label="Tag",
        validators=[_check_tag],
        help_text="key:value, or a key alone for every device that has it.",
    )

    class Meta:
        model = Device
        fields = ["name", "status", "tag"]

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        key, tag_value = parse_tag_filter(value)
        if tag_value is None:
            return queryset.filter(tags__has_key=key)
        # A key transform rather than ``tags__<key>``: keys may hold "__", which the ORM would
        # read as a further lookup.
        return (
            queryset.filter(tags__has_key=key)
            .alias(_tag=KeyTransform(key, "tags"))
            .filter(_tag=tag_value)
        )
