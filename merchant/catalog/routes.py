"""Staff catalog API under ``/admin/v1``: feed runs and variants.

Staff keys (viewer, operator, admin) read; operator and admin keys write. The
routes parse and shape; ``merchant.catalog.service`` does the work.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from merchant.audit import service as audit
from merchant.audit.service import AuditContext
from merchant.catalog import service
from merchant.catalog.errors import FileTooLarge
from merchant.catalog.models import FeedRun, Variant
from merchant.catalog.records import Availability, FeedFormat, FeedMode
from merchant.catalog.schemas import (
    READABLE_FORMAT_SCHEMA,
    FeedRunDetail,
    FeedRunPage,
    FeedRunView,
    FeedUrlRequest,
    InventoryUpdate,
    VariantDetail,
    VariantPage,
)
from merchant.config import Settings
from merchant.errors import InvalidRequest, UnsupportedMediaType
from merchant.http.audit import AuditCtx
from merchant.http.auth import OperatorPrincipal, StaffPrincipal
from merchant.http.deps import SessionDep
from merchant.http.routing import TransactionalRoute
from merchant.http.schemas import Error
from merchant.identity.service import Principal
from merchant.kit.clock import utc_now
from merchant.kit.json_guard import INT64_MAX
from merchant.kit.jsonpath import jsonpath

PREFIX = "/admin/v1"
router = APIRouter(prefix=PREFIX, route_class=TransactionalRoute, tags=["catalog"])

MULTIPART = "multipart/form-data"
JSON = "application/json"
UPLOAD_FIELDS = ("file", "mode", "format")
# Room for the multipart framing and the small text fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]


def _error(description: str) -> dict[str, Any]:
    return {"model": Error, "description": description}


# OpenAPI: the two request bodies of POST /feeds


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined (OpenAPI resolves refs from the document root)."""
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = resolve(defs[ref.removeprefix("#/$defs/")])
                return {**target, **{k: resolve(v) for k, v in node.items() if k != "$ref"}}
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _feed_request_body() -> dict[str, Any]:
    url_schema = _inline_defs(FeedUrlRequest.model_json_schema())
    upload_schema = {
        "title": "FeedUpload",
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The feed file (may be gzipped)."},
            "mode": url_schema["properties"]["mode"],
            "format": {**READABLE_FORMAT_SCHEMA, "description": "The file's format; detected when absent."},
        },
    }
    return {
        "required": True,
        "description": "Upload the file (multipart) or name a URL for the worker to fetch (JSON).",
        "content": {MULTIPART: {"schema": upload_schema}, JSON: {"schema": url_schema}},
    }


# Parsing helpers


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _parse_json(model: type[M], raw: bytes) -> M:
    """Validate a JSON body; failures read like FastAPI's own body validation (``$.field``)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _form_enum(form: FormData, name: str, enum: type[E]) -> E | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a text field.", code="invalid_value", param=jsonpath([name]))
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRequest(
            f"{name} must be one of: {allowed}.", code="invalid_value", param=jsonpath([name])
        ) from None


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def _start_upload(request: Request, session: SessionDep, principal: Principal) -> FeedRun:
    settings: Settings = request.app.state.settings
    declared = _declared_length(request)
    if declared is not None and declared > settings.feed_max_bytes + MULTIPART_OVERHEAD_BYTES:
        # Refused before the body is read: no need to spool a body that cannot fit.
        limit = settings.feed_max_bytes
        raise FileTooLarge(
            f"The request is {declared:,} bytes; feed files may not exceed {limit:,} bytes.", param="$.file"
        )
    # Authentication only read: hand its connection back to the pool while a large body arrives
    # (minutes, for a big file on a slow link). The run, its chunks and its job still commit together.
    await session.rollback()
    async with request.form(max_files=1, max_fields=len(UPLOAD_FIELDS)) as form:
        for name in form:
            if name not in UPLOAD_FIELDS:
                raise InvalidRequest(f"Unknown field {name!r}.", code="unknown_field", param=jsonpath([name]))
            if len(form.getlist(name)) > 1:
                raise InvalidRequest(f"{name} sent twice.", code="invalid_value", param=jsonpath([name]))
        upload = form.get("file")
        if upload is None:
            raise InvalidRequest(
                "Send the feed in a 'file' part.", code="missing_required_field", param="$.file"
            )
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("file must be a file part.", code="invalid_value", param="$.file")
        mode = _form_enum(form, "mode", FeedMode) or FeedMode.UPSERT
        fmt = _form_enum(form, "format", FeedFormat)
        return await service.start_upload_run(
            session,
            filename=upload.filename,
            stream=upload.file,
            mode=mode,
            fmt=fmt,
            requested_by=principal.key_id,
            max_bytes=settings.feed_max_bytes,
        )


# Feed runs


async def _audit_run(session: SessionDep, principal: Principal, context: AuditContext, run: FeedRun) -> None:
    """``feed.upload`` / ``feed.url``; the source stays on the run (a URL may carry a token)."""
    after = {
        "source_kind": run.source_kind,
        "mode": run.mode,
        "format": run.format_requested,
        "size_bytes": run.size_bytes,
    }
    await audit.record(
        session,
        actor=principal,
        action=f"feed.{run.source_kind}",
        target_type="feed_run",
        target_id=run.id,
        context=context,
        after=after,
        status_code=202,
        now=utc_now(),
    )


@router.post(
    "/feeds",
    status_code=202,
    response_model=FeedRunView,
    responses={
        202: {"description": "Queued; poll `GET /admin/v1/feeds/{run_id}` (also in `Location`)."},
        413: _error("The uploaded file is larger than the configured limit (`file_too_large`)"),
        415: _error("Content-Type is neither multipart/form-data nor application/json"),
    },
    openapi_extra={"requestBody": _feed_request_body()},
)
async def create_feed_run(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: OperatorPrincipal,
    audit_context: AuditCtx,
) -> FeedRunView:
    """Start a feed run: upload the file (multipart `file`, optional `mode` and `format`)
    or send `{"url": ...}` as JSON. The run is queued; a worker ingests it."""
    media_type = _media_type(request)
    if media_type == MULTIPART:
        run = await _start_upload(request, session, principal)
    elif media_type == JSON:
        body = _parse_json(FeedUrlRequest, await request.body())
        run = await service.start_url_run(
            session, url=str(body.url), mode=body.mode, fmt=body.format, requested_by=principal.key_id
        )
    else:
        raise UnsupportedMediaType(
            f"Send {MULTIPART} (a file upload) or {JSON} (a URL), not {media_type or 'no Content-Type'}.",
            param="$",
        )
    await _audit_run(session, principal, audit_context, run)
    response.headers["Location"] = f"{PREFIX}/feeds/{run.id}"
    return FeedRunView.of(run)


@router.get("/feeds", response_model=FeedRunPage)
async def list_feed_runs(
    session: SessionDep,
    _: StaffPrincipal,
    limit: Limit = 20,
    starting_after: Annotated[str | None, Query(description="The last run id of the previous page.")] = None,
) -> FeedRunPage:
    """Feed runs, newest first."""
    page = await service.list_runs(session, limit=limit, starting_after=starting_after)
    return FeedRunPage.of(page.items, page.has_more)


@router.get(
    "/feeds/{run_id}",
    response_model=FeedRunDetail,
    responses={404: _error("No such feed run (`feed_run_not_found`)")},
)
async def get_feed_run(
    session: SessionDep,
    _: StaffPrincipal,
    run_id: Annotated[str, Path(max_length=40)],
    errors_limit: Annotated[int, Query(ge=1, le=1000, description="Row errors per page.")] = 100,
    errors_after: Annotated[
        int | None, Query(ge=0, le=INT64_MAX, description="The `next_cursor` of the previous errors page.")
    ] = None,
) -> FeedRunDetail:
    """One feed run with a page of its row errors (in file order)."""
    found = await service.get_run(session, run_id, errors_limit=errors_limit, errors_after=errors_after)
    return FeedRunDetail.with_errors(found.run, found.errors.items, found.errors.has_more)


# Variants

_PRODUCT_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _error("No such variant (`product_not_found`)")}


@router.get("/products", response_model=VariantPage)
async def list_products(
    session: SessionDep,
    _: StaffPrincipal,
    limit: Limit = 20,
    starting_after: Annotated[
        str | None, Query(description="The last variant id of the previous page.")
    ] = None,
    q: Annotated[
        str | None, Query(max_length=500, description="Variant id or GTIN (exact), or part of the title.")
    ] = None,
    availability: Annotated[Availability | None, Query()] = None,
    listed: Annotated[bool, Query(description="false: only variants delisted by a snapshot feed.")] = True,
) -> VariantPage:
    """Variants (the purchasable items), by id."""
    page = await service.list_variants(
        session, limit=limit, starting_after=starting_after, q=q, availability=availability, listed=listed
    )
    return VariantPage.of(page.items, page.has_more)


@router.get("/products/{variant_id}", response_model=VariantDetail, responses=_PRODUCT_NOT_FOUND)
async def get_product(session: SessionDep, _: StaffPrincipal, variant_id: str) -> VariantDetail:
    """One variant with every stored field and its product."""
    variant, product = await service.get_variant(session, variant_id)
    return VariantDetail.of_variant(variant, product)


async def _inventory_of(session: SessionDep, variant_id: str) -> dict[str, Any] | None:
    """The variant's inventory for the audit trail, its row locked so the change follows this read."""
    query = select(Variant.inventory_quantity, Variant.availability).where(Variant.id == variant_id)
    row = (await session.execute(query.with_for_update())).one_or_none()
    return None if row is None else {"inventory_quantity": row[0], "availability": row[1]}


@router.patch("/products/{variant_id}/inventory", response_model=VariantDetail, responses=_PRODUCT_NOT_FOUND)
async def update_inventory(
    session: SessionDep,
    principal: OperatorPrincipal,
    audit_context: AuditCtx,
    variant_id: str,
    body: InventoryUpdate,
) -> VariantDetail:
    """Set a variant's inventory quantity (null: not tracked) and/or availability."""
    before = await _inventory_of(session, variant_id)  # None: the update below answers 404
    sent = body.model_fields_set
    variant, product = await service.update_inventory(
        session,
        variant_id,
        inventory_quantity=body.inventory_quantity if "inventory_quantity" in sent else service.UNSET,
        availability=body.availability,
    )
    after = {"inventory_quantity": variant.inventory_quantity, "availability": variant.availability}
    await audit.record(
        session,
        actor=principal,
        action="variant.inventory_update",
        target_type="variant",
        target_id=variant_id,
        context=audit_context,
        before=before,
        after=after,
        status_code=200,
        now=utc_now(),
    )
    return VariantDetail.of_variant(variant, product)
