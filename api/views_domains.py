"""A service's custom domains: the records to create, adding, checking, removing."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from api.views_services import service_for
from environments.access import ADMIN, VIEW
from ingress import actions
from ingress.models import Domain
from ingress.names import InvalidName, clean_domain, domain_url, pointing_record


class DnsRecordSerializer(serializers.Serializer):
    type = serializers.CharField()
    name = serializers.CharField()
    value = serializers.CharField()


class DomainSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="pending, serving, failing or stopped")
    stops_at = serializers.DateTimeField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    records = serializers.SerializerMethodField(help_text="The DNS records to create, all of them.")

    class Meta:
        model = Domain
        fields = [
            "id", "name", "status", "url", "records", "verified_at", "failing_since", "stops_at",
            "checked_at", "check_result",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, domain: Domain) -> str:
        return domain_url(domain.name)

    @extend_schema_field(DnsRecordSerializer(many=True))
    def get_records(self, domain: Domain) -> list[dict]:
        kind, value = pointing_record(domain)
        return [
            {"type": "TXT", "name": domain.txt_name, "value": domain.txt_value},
            {"type": kind, "name": domain.name, "value": value},
        ]


class AddDomainSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=1000)


def _domain(request, service_id: int, name: str, need: str = ADMIN) -> Domain:
    service = service_for(request, service_id, need)
    try:
        name = clean_domain(name)
    except InvalidName:
        raise Http404 from None
    return get_object_or_404(service.custom_domains.select_related("service__environment"), name=name)


class ServiceDomains(generics.ListAPIView):
    serializer_class = DomainSerializer
    pagination_class = None

    def get_queryset(self):
        return service_for(self.request, self.kwargs["service_id"]).custom_domains.order_by("name")

    @extend_schema(request=AddDomainSerializer, responses={201: DomainSerializer})
    def post(self, request, service_id: int):
        """Claim a domain; it is served once the records in `records` exist (checked every minute)."""
        service = service_for(request, service_id, ADMIN)
        form = AddDomainSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        domain = actions.add_domain(service, form.validated_data["name"], request.user)
        return Response(DomainSerializer(domain).data, status=status.HTTP_201_CREATED)


class ServiceDomain(generics.GenericAPIView):
    serializer_class = DomainSerializer

    def get(self, request, service_id: int, name: str):
        return Response(DomainSerializer(_domain(request, service_id, name, need=VIEW)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, service_id: int, name: str):
        actions.remove_domain(_domain(request, service_id, name), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceDomainCheck(generics.GenericAPIView):
    serializer_class = DomainSerializer

    @extend_schema(request=None, responses={200: DomainSerializer})
    def post(self, request, service_id: int, name: str):
        """Ask the DNS now instead of waiting for the next periodic check."""
        return Response(DomainSerializer(actions.check_domain(_domain(request, service_id, name))).data)
