"""`GET /downloads/<job id>?token=…`: a finished CSV export streamed from disk to the browser that asked for it.

Outside the Reflex guard like the gateway API: the single-use token of services/analytics/export_jobs.py is the whole
authorization (the page creates it for the job's owner only, just before the browser follows it). Every
failure is the same 404, so job ids cannot be probed."""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from services.analytics import export_jobs
from services.core.errors import NotFound


async def download(request: Request) -> Response:
    job_id, token = request.path_params.get("job_id"), request.query_params.get("token")
    try:
        filename, path = await run_in_threadpool(export_jobs.take_download, job_id, token)
    except NotFound as e:
        return PlainTextResponse(e.message, status_code=404, headers={"Cache-Control": "no-store"})
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=filename,
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
