"""The HTTP side of fine-tuning: OpenAI's `/v1/files` and `/v1/fine_tuning/jobs` routes over `Jobs`."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tuitune.server.bodies import read_json
from tuitune.server.finetune_files import MAX_FILE_BYTES
from tuitune.server.jobs import Jobs
from tuitune.server.protocol import ApiError

_UPLOAD_LIMIT = MAX_FILE_BYTES + 2**20  # the file plus its multipart framing


def job_routes(jobs: Jobs) -> list[Route]:
    async def upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > _UPLOAD_LIMIT:
            raise ApiError(413, f"the file is over {MAX_FILE_BYTES // 2**20} MB", "file")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise ApiError(400, "upload the file as multipart/form-data with 'file' and 'purpose'", "file")
        try:
            async with request.form(max_files=1, max_fields=8) as form:
                part, purpose = form.get("file"), form.get("purpose")
                if not isinstance(part, UploadFile):
                    raise ApiError(400, "the form needs a 'file'", "file")
                raw = await part.read(_UPLOAD_LIMIT + 1)
                filename = part.filename or ""
        except ApiError:
            raise
        except Exception as exc:  # a malformed multipart body
            raise ApiError(400, f"the upload could not be read: {str(exc)[:200]}", "file") from None
        if not isinstance(purpose, str):
            raise ApiError(400, "the form needs a 'purpose' (fine-tune)", "purpose")
        card = await asyncio.to_thread(jobs.files.add, raw, filename, purpose)
        return JSONResponse(card)

    async def list_files(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": await asyncio.to_thread(jobs.files.cards), "has_more": False})

    async def get_file(request: Request) -> Response:
        return JSONResponse(jobs.files.get(request.path_params["file_id"]))

    async def delete_file(request: Request) -> Response:
        return JSONResponse(jobs.files.delete(request.path_params["file_id"]))

    async def create_job(request: Request) -> Response:
        body = await read_json(request)
        return JSONResponse(await asyncio.to_thread(jobs.create, body))

    async def list_jobs(request: Request) -> Response:
        after, limit, _ = _paging(request)
        return JSONResponse(await asyncio.to_thread(jobs.list, after=after, limit=limit))

    async def get_job(request: Request) -> Response:
        return JSONResponse(jobs.get(request.path_params["job_id"]))

    async def job_events(request: Request) -> Response:
        after, limit, since = _paging(request)
        job_id = request.path_params["job_id"]
        wait = request.query_params.get("wait", "0")
        if not wait.isdigit() or int(wait) > 30:
            raise ApiError(400, "'wait' is seconds to wait for a new event, 0 to 30", "wait")
        if since is not None and int(wait):  # a long poll: the answer comes with the next event
            jobs.get(job_id)
            await asyncio.to_thread(jobs.wait_for_events, job_id, since, int(wait))
        return JSONResponse(await asyncio.to_thread(jobs.events, job_id, after=after, limit=limit, since=since))

    async def cancel_job(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(jobs.cancel, request.path_params["job_id"]))

    return [
        Route("/v1/files", upload, methods=["POST"]),
        Route("/v1/files", list_files, methods=["GET"]),
        Route("/v1/files/{file_id}", get_file, methods=["GET"]),
        Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
        Route("/v1/fine_tuning/jobs", create_job, methods=["POST"]),
        Route("/v1/fine_tuning/jobs", list_jobs, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/v1/fine_tuning/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
    ]


def _paging(request: Request) -> tuple[str | None, int, int | None]:
    query: Any = request.query_params
    limit, since = query.get("limit", "20"), query.get("since")
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        raise ApiError(400, "'limit' must be from 1 to 1000", "limit")
    if since is not None and not since.isdigit():
        raise ApiError(400, "'since' must be an event's sequence number", "since")
    return query.get("after"), int(limit), int(since) if since is not None else None
