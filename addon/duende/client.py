"""Talks to a Duende Manager's people API; no Blender in here.

Everything the add-on sends or receives goes through this module, so it can
be unit-tested with plain `python3 -m unittest` against a local HTTP server.
Every failure becomes an `ApiError` with one readable line for Blender's
status bar: the operators never show a traceback for a network or input
problem.

Standard library only (urllib, json): Blender bundles no HTTP library and an
add-on should install nothing.
"""

import http.client
import json
import math
import socket
import urllib.error
import urllib.parse
import urllib.request

# Long enough for a busy Manager; short enough that Blender's UI, which waits
# for the answer, does not freeze for long on an unreachable one.
DEFAULT_TIMEOUT_S = 10.0

# Blender's image_settings.file_format -> (the name Blender's command line
# takes with --render-format, the extension of the files it writes).
# Movie formats have no extension: Blender writes one video, no frames.
IMAGE_FORMATS = {
    "PNG": ("PNG", ".png"),
    "JPEG": ("JPEG", ".jpg"),
    "JPEG2000": ("JP2", ".jp2"),
    "BMP": ("BMP", ".bmp"),
    "IRIS": ("IRIS", ".rgb"),
    "TARGA": ("TGA", ".tga"),
    "TARGA_RAW": ("RAWTGA", ".tga"),
    "CINEON": ("CINEON", ".cin"),
    "DPX": ("DPX", ".dpx"),
    "OPEN_EXR": ("OPEN_EXR", ".exr"),
    "OPEN_EXR_MULTILAYER": ("OPEN_EXR_MULTILAYER", ".exr"),
    "HDR": ("HDR", ".hdr"),
    "TIFF": ("TIFF", ".tif"),
    "WEBP": ("WEBP", ".webp"),
}
MOVIE_FORMATS = {"FFMPEG": "FFMPEG", "AVI_JPEG": "AVIJPEG", "AVI_RAW": "AVIRAW"}

# The job type every Duende Manager has built in; offered alone when the
# Manager does not serve GET /api/job-types (older Managers answer 404).
BLENDER_RENDER = {
    "name": "blender-render",
    "label": "Blender Render",
    "description": "Render frames of a .blend file in chunks, then make a video of them",
    "source": "built-in",
    "settings": [
        {"key": "filepath", "type": "string", "required": True,
         "description": "The .blend file to render"},
        {"key": "render_output", "type": "string", "required": True,
         "description": "Where the frames go, e.g. /renders/shot/frame-######"},
        {"key": "frames", "type": "string", "required": True,
         "description": "Frames to render, e.g. 1-250"},
        {"key": "chunk_size", "type": "integer", "required": True, "default": 5, "min": 1,
         "description": "Frames per task"},
        {"key": "format", "type": "string", "required": False,
         "description": "Blender's output format, e.g. PNG"},
        {"key": "fps", "type": "number", "required": False,
         "description": "Frames per second of the video made of the frames"},
        {"key": "images_or_video", "type": "string", "required": False,
         "choices": ["images", "video"],
         "description": "Whether Blender writes images or a video"},
        {"key": "output_file_extension", "type": "string", "required": False,
         "description": "Extension of the rendered images, e.g. .png"},
    ],
}


class ApiError(Exception):
    """A failure to show the artist: `str(error)` is one readable line."""


def _one_line(text, limit=300):
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit] + "..."


def normalize_manager_url(url):
    """The Manager's base URL without a trailing slash, or ApiError."""
    url = (url or "").strip()
    if not url:
        raise ApiError("No Manager URL set: enter it in the Duende add-on's preferences")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError("Manager URL must look like http://host:port, got '%s'" % _one_line(url))
    try:
        parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise ApiError("Manager URL has an invalid port: '%s'" % _one_line(url)) from None
    if parts.query or parts.fragment:
        raise ApiError("Manager URL must not have a query or fragment: '%s'" % _one_line(url))
    return url.rstrip("/")


def _check_token(token):
    token = (token or "").strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
        raise ApiError("The token contains control characters: paste it again")
    return token


# ---------------------------------------------------------------------------
# Job types


def _check_setting(job_type, setting):
    if not isinstance(setting, dict) or not isinstance(setting.get("key"), str) or not setting["key"]:
        raise ApiError("The Manager sent job type '%s' with a setting that has no key" % job_type)
    choices = setting.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise ApiError("The Manager sent job type '%s' with malformed choices for '%s'"
                       % (job_type, setting["key"]))
    return setting


def parse_job_types(body):
    """The job types of a GET /api/job-types answer, checked, sorted by name.

    Each is a dict with at least name, label, description and settings (a
    list of dicts with a key). ApiError when the answer has another shape.
    """
    if not isinstance(body, dict) or not isinstance(body.get("job_types"), list):
        raise ApiError("The Manager's job type list is malformed (no 'job_types' array)")
    types = []
    for entry in body["job_types"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ApiError("The Manager's job type list has an entry without a name")
        settings = entry.get("settings")
        settings = [] if settings is None else settings
        if not isinstance(settings, list):
            raise ApiError("The Manager sent job type '%s' with malformed settings" % entry["name"])
        types.append({
            "name": entry["name"],
            "label": entry.get("label") or entry["name"],
            "description": entry.get("description") or "",
            "source": entry.get("source") or "",
            "settings": [_check_setting(entry["name"], s) for s in settings],
        })
    return sorted(types, key=lambda t: t["name"])


# ---------------------------------------------------------------------------
# Building a job from what the artist set


def frames_setting(frame_start, frame_end):
    """Blender's inclusive frame range as a Duende frames setting ("1-250")."""
    if not isinstance(frame_start, int) or not isinstance(frame_end, int):
        raise ApiError("The frame range must be whole numbers")
    if frame_start > frame_end:
        raise ApiError("The first frame (%d) is after the last frame (%d)" % (frame_start, frame_end))
    if frame_start < 0:
        raise ApiError("Frames must not be negative (first frame %d)" % frame_start)
    return str(frame_start) if frame_start == frame_end else "%d-%d" % (frame_start, frame_end)


def _path_parts(path):
    return [p for p in path.replace("\\", "/").split("/") if p]


def render_output_setting(output_path, blend_path):
    """The render_output setting for an absolute output path.

    A directory (ending in a separator) gets Blender's frame-number pattern
    appended, so the frames land inside it. The job owns the output's folder:
    when it finishes, whatever was there is moved aside for the new frames.
    So a top-level folder (/tmp, C:\\) or the folder holding the .blend file
    is refused.
    """
    path = (output_path or "").strip()
    if not path:
        raise ApiError("No output path set")
    if not (path.startswith("/") or (len(path) > 2 and path[1] == ":" and path[2] in "/\\")
            or path.startswith("\\\\")):
        raise ApiError("The output path must be absolute (the workers do not know this file's folder), got '%s'"
                       % _one_line(path))
    if path.endswith(("/", "\\")):
        path += "######"
    folder = _path_parts(path)[:-1]
    if len(folder) < 2 or (len(folder) == 2 and folder[0].endswith(":")):
        raise ApiError("The output path '%s' is in a top-level folder, which the job would move aside when it "
                       "finishes: use a folder of its own, e.g. /renders/shot/frame-######" % _one_line(path))
    if folder == _path_parts(blend_path)[:len(folder)]:
        raise ApiError("The output path '%s' is in the folder of the .blend file, which the job would move aside "
                       "when it finishes: use a folder of its own, e.g. //render/frame-######" % _one_line(path))
    return path


def parse_extra_settings(text):
    """The artist's extra settings: a JSON object, or {} for empty text."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ApiError("Extra settings are not valid JSON: %s" % _one_line(e)) from None
    if not isinstance(value, dict):
        raise ApiError('Extra settings must be a JSON object, e.g. {"key": "value"}')
    return value


_TYPE_CHECKS = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "integer": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "int": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v)),
    "float": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
}


def _validate_setting(setting, value):
    key = setting["key"]
    check = _TYPE_CHECKS.get(str(setting.get("type", "")).lower())
    # Types this add-on does not know (the Manager may grow new ones) are
    # left to the Manager, which checks every setting again.
    if check and not check[1](value):
        raise ApiError("Setting '%s' must be %s, got %s" % (key, check[0], _one_line(json.dumps(value))))
    choices = setting.get("choices")
    if choices and value not in choices:
        raise ApiError("Setting '%s' must be one of %s, got %s"
                       % (key, ", ".join(json.dumps(c) for c in choices), _one_line(json.dumps(value))))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = setting.get("min"), setting.get("max")
        if isinstance(low, (int, float)) and value < low:
            raise ApiError("Setting '%s' must be at least %s, got %s" % (key, low, value))
        if isinstance(high, (int, float)) and value > high:
            raise ApiError("Setting '%s' must be at most %s, got %s" % (key, high, value))


def build_job(job_type, *, name, priority, blend_path, frame_start, frame_end, chunk_size,
              output_path, file_format, fps, extra_settings="", submitter="", platform=""):
    """The POST /api/jobs body for the artist's choices, or ApiError.

    `job_type` is one entry of parse_job_types() (or BLENDER_RENDER). The
    settings the add-on knows how to fill (filepath, frames, chunk_size,
    render_output, format, fps, images_or_video, output_file_extension) are
    set when the job type has them; `extra_settings` (JSON object text)
    adds or overrides settings; the schema's defaults fill the rest. Every
    setting is checked against the schema, and every required one must end
    up set. `submitter` and `platform` (see platform_name) are sent when
    not empty.
    """
    name = (name or "").strip()
    if not name:
        raise ApiError("The job needs a name")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 100:
        raise ApiError("Priority must be a whole number from 1 to 100, got %s" % priority)
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ApiError("Chunk size must be at least 1, got %s" % chunk_size)
    if not blend_path or not blend_path.endswith(".blend"):
        raise ApiError("Save the file as a .blend first: the workers render the saved file")

    known = {
        "filepath": blend_path,
        "frames": frames_setting(frame_start, frame_end),
        "chunk_size": chunk_size,
        "render_output": render_output_setting(output_path, blend_path),
    }
    if file_format in MOVIE_FORMATS:
        known["format"] = MOVIE_FORMATS[file_format]
        known["images_or_video"] = "video"
    elif file_format in IMAGE_FORMATS:
        known["format"], known["output_file_extension"] = IMAGE_FORMATS[file_format]
        known["images_or_video"] = "images"
    else:
        raise ApiError("Blender's output format '%s' is not supported by the farm" % file_format)
    if isinstance(fps, (int, float)) and fps > 0:
        known["fps"] = round(float(fps), 3)

    schema = {s["key"]: s for s in job_type.get("settings", [])}
    settings = {key: value for key, value in known.items() if key in schema}
    settings.update(parse_extra_settings(extra_settings))
    for key, setting in schema.items():
        if key not in settings and setting.get("default") is not None:
            settings[key] = setting["default"]
    missing = [key for key, s in schema.items() if s.get("required") and settings.get(key) is None]
    if missing:
        raise ApiError("Job type '%s' needs %s: add %s under Extra settings (JSON)"
                       % (job_type["name"], ", ".join(missing), "them" if len(missing) > 1 else "it"))
    for key, value in settings.items():
        if key in schema and value is not None:
            _validate_setting(schema[key], value)

    body = {"name": name, "job_type": job_type["name"], "priority": priority, "settings": settings}
    if submitter:
        body["submitter"] = submitter
    if platform:
        body["submitter_platform"] = platform
    return body


def platform_name(sys_platform):
    """The platform name Duende workers report for Python's sys.platform.

    Sent with a job so the Manager can turn this machine's paths into each
    worker's through its two-way path variables.
    """
    if sys_platform.startswith("win"):
        return "windows"
    if sys_platform == "darwin":
        return "darwin"
    return "linux"


# ---------------------------------------------------------------------------
# Jobs of a file


def job_progress(job):
    """Percentage (0-100) of the job's tasks that are completed."""
    counts = job.get("tasks_status") if isinstance(job, dict) else None
    if not isinstance(counts, dict):
        return 0
    total = counts.get("count")
    done = counts.get("completed", 0)
    if not isinstance(total, int) or total <= 0 or not isinstance(done, int):
        return 0
    return max(0, min(100, done * 100 // total))


def _same_path(a, b):
    return isinstance(a, str) and a.replace("\\", "/") == b.replace("\\", "/")


def jobs_of_file(jobs, blend_path, known_ids=()):
    """The jobs of the file `blend_path`, newest first.

    A job is the file's when its filepath setting is `blend_path` or when its
    ID is in `known_ids` (the jobs the add-on submitted from this file: with
    two-way path variables the Manager stores the path with placeholders
    such as "{shots}/a.blend", which no longer equals the artist's path).
    Each is summarised as a dict: id, name, job_type, status, progress
    (percent), created.
    """
    known_ids = set(known_ids)
    mine = []
    for job in jobs:
        if not isinstance(job, dict):
            continue
        settings = job.get("settings")
        filepath = settings.get("filepath") if isinstance(settings, dict) else None
        if not _same_path(filepath, blend_path) and job.get("_id") not in known_ids:
            continue
        mine.append({
            "id": str(job.get("_id", "")),
            "name": str(job.get("name", "")),
            "job_type": str(job.get("job_type", "")),
            "status": str(job.get("status", "")),
            "progress": job_progress(job),
            "created": str(job.get("_created", "")),
        })
    # ISO 8601 timestamps sort as text; the ID breaks ties.
    mine.sort(key=lambda j: (j["created"], j["id"]), reverse=True)
    return mine


# ---------------------------------------------------------------------------
# HTTP


class Manager:
    """A Manager's people API, authenticated with an API token.

    Methods raise ApiError with a readable line on any failure.
    """

    def __init__(self, url, token, timeout_s=DEFAULT_TIMEOUT_S):
        self.url = normalize_manager_url(url)
        self.token = _check_token(token)
        self.timeout_s = timeout_s

    def _request(self, method, path, body=None):
        """(HTTP status, parsed JSON or None) for any answer the Manager gives."""
        headers = {"Accept": "application/json", "User-Agent": "duende-blender-addon"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (socket.timeout, TimeoutError):
            raise self._timeout() from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise self._timeout() from None
            reason = e.reason.strerror if isinstance(e.reason, OSError) and e.reason.strerror else e.reason
            raise ApiError("Cannot reach the Manager at %s: %s" % (self.url, _one_line(reason))) from None
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise ApiError("Cannot talk to the Manager at %s: %s" % (self.url, _one_line(e))) from None
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except ValueError:
            parsed = _NOT_JSON
        return status, parsed

    def _timeout(self):
        return ApiError("The Manager at %s did not answer within %g s" % (self.url, self.timeout_s))

    def _call(self, method, path, body=None, what="request"):
        return self._answer(*self._request(method, path, body), what)

    def _answer(self, status, parsed, what):
        """The JSON of a successful answer, or ApiError saying what went wrong."""
        if not 200 <= status < 300:
            raise ApiError(self._error_line(status, parsed, what))
        if parsed is _NOT_JSON:
            raise ApiError("%s does not look like a Duende Manager (its answer is not JSON)" % self.url)
        return parsed

    def _error_line(self, status, parsed, what):
        message = ""
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            message = _one_line(parsed["message"])
        if status == 401:
            hint = "no token set" if not self.token else "wrong token"
            return ("The Manager at %s refused the login (%s): set the API token in the Duende add-on's "
                    "preferences (HTTP 401)" % (self.url, hint))
        if status == 403:
            return "This token may not %s: %s (HTTP 403)" % (what, message or "forbidden")
        return "The Manager could not %s: %s (HTTP %d)" % (what, message or "no reason given", status)

    def job_types(self):
        """The job types the Manager offers; [BLENDER_RENDER] if it has no list."""
        status, parsed = self._request("GET", "/api/job-types")
        if status == 404:
            return [BLENDER_RENDER]
        return parse_job_types(self._answer(status, parsed, "list its job types"))

    def check_login(self):
        """ApiError unless the Manager answers and takes the token.

        Asked before the add-on saves the file for a submission: a wrong
        token must change nothing (the Manager answers routes it does not
        have, such as /api/job-types on older versions, without asking
        for a login).
        """
        self._call("GET", "/api/jobs?limit=1", what="list its jobs")

    def submit(self, body):
        """Submits a job; returns the new job's ID."""
        job = self._call("POST", "/api/jobs", body, what="accept the job")
        job_id = job.get("_id") if isinstance(job, dict) else None
        if not isinstance(job_id, str) or not job_id:
            raise ApiError("The Manager accepted the job but sent no job ID")
        return job_id

    def jobs(self):
        """All jobs the Manager lists (newest Managers cap this at 1000)."""
        body = self._call("GET", "/api/jobs", what="list its jobs")
        if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
            raise ApiError("The Manager's job list is malformed (no 'jobs' array)")
        return body["jobs"]

    def jobs_of_file(self, blend_path, known_ids=()):
        return jobs_of_file(self.jobs(), blend_path, known_ids)


# A marker for "the answer was not JSON", distinct from an empty body (None).
_NOT_JSON = object()

