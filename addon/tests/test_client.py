"""Unit tests of the add-on's Manager client (no Blender needed).

Run: python3 -m unittest discover -s addon/tests -t addon
The HTTP tests talk to a small fake Manager on 127.0.0.1.
"""

import json
import os
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from duende import client  # noqa: E402
from duende.client import ApiError  # noqa: E402

BLEND = "/shots/seq1/shot.blend"


def job_args(**overrides):
    args = dict(name="shot", priority=50, blend_path=BLEND, frame_start=1, frame_end=24, chunk_size=5,
                output_path="/renders/shot/frame-######", file_format="PNG", fps=24.0)
    args.update(overrides)
    return args


class UrlTest(unittest.TestCase):
    def test_valid_urls_lose_their_trailing_slash(self):
        for url, want in [("http://farm:8080", "http://farm:8080"), ("  https://farm/ ", "https://farm"),
                          ("http://10.0.0.5:8080/duende/", "http://10.0.0.5:8080/duende")]:
            self.assertEqual(client.normalize_manager_url(url), want)

    def test_invalid_urls_say_why(self):
        for url, fragment in [("", "No Manager URL set"), ("farm:8080", "must look like http://host:port"),
                              ("ftp://farm", "must look like"), ("http://", "must look like"),
                              ("http://farm:port", "invalid port"), ("http://farm/?a=1", "query or fragment")]:
            with self.assertRaises(ApiError) as e:
                client.normalize_manager_url(url)
            self.assertIn(fragment, str(e.exception), url)

    def test_token_with_a_newline_inside_is_refused(self):
        with self.assertRaises(ApiError) as e:
            client.Manager("http://farm", "abc\ndef")
        self.assertIn("control characters", str(e.exception))
        self.assertEqual(client.Manager("http://farm", " abc\n").token, "abc")


class BuildJobTest(unittest.TestCase):
    def test_blender_render_from_a_png_scene(self):
        body = client.build_job(client.BLENDER_RENDER, **job_args(priority=70, submitter="ana", platform="linux"))
        self.assertEqual(body, {
            "name": "shot", "job_type": "blender-render", "priority": 70, "submitter": "ana",
            "submitter_platform": "linux",
            "settings": {"filepath": BLEND, "frames": "1-24", "chunk_size": 5,
                         "render_output": "/renders/shot/frame-######", "format": "PNG", "fps": 24.0,
                         "images_or_video": "images", "output_file_extension": ".png"}})

    def test_formats_map_to_blenders_command_line_names(self):
        for blender_format, want_format, want_ext in [("JPEG", "JPEG", ".jpg"), ("OPEN_EXR", "OPEN_EXR", ".exr"),
                                                      ("TARGA", "TGA", ".tga"), ("TIFF", "TIFF", ".tif")]:
            settings = client.build_job(client.BLENDER_RENDER, **job_args(file_format=blender_format))["settings"]
            self.assertEqual((settings["format"], settings["output_file_extension"]), (want_format, want_ext))

    def test_a_movie_format_renders_a_video_and_has_no_extension(self):
        settings = client.build_job(client.BLENDER_RENDER, **job_args(file_format="FFMPEG"))["settings"]
        self.assertEqual(settings["format"], "FFMPEG")
        self.assertEqual(settings["images_or_video"], "video")
        self.assertNotIn("output_file_extension", settings)

    def test_single_frame_and_fractional_fps(self):
        settings = client.build_job(client.BLENDER_RENDER, **job_args(frame_start=7, frame_end=7,
                                                                      fps=30000 / 1001))["settings"]
        self.assertEqual(settings["frames"], "7")
        self.assertEqual(settings["fps"], 29.97)

    def test_output_directory_gets_a_frame_pattern(self):
        settings = client.build_job(client.BLENDER_RENDER, **job_args(output_path="/renders/shot/"))["settings"]
        self.assertEqual(settings["render_output"], "/renders/shot/######")
        settings = client.build_job(client.BLENDER_RENDER,
                                    **job_args(output_path="R:\\renders\\shot\\"))["settings"]
        self.assertEqual(settings["render_output"], "R:\\renders\\shot\\######")

    def test_bad_input_is_refused_with_a_reason(self):
        cases = [
            (dict(name="  "), "needs a name"),
            (dict(priority=0), "Priority must be"),
            (dict(priority=101), "Priority must be"),
            (dict(chunk_size=0), "Chunk size must be at least 1"),
            (dict(blend_path=""), "Save the file as a .blend first"),
            (dict(frame_start=10, frame_end=5), "first frame (10) is after the last frame (5)"),
            (dict(frame_start=-3), "must not be negative"),
            (dict(output_path=""), "No output path"),
            (dict(output_path="render/frame-###"), "must be absolute"),
            # The job moves its output folder's old contents aside: never a
            # top-level folder, nor the .blend file's folder or its parents.
            (dict(output_path="/tmp/"), "'/tmp/######' is in a top-level folder"),
            (dict(output_path="/frame-####"), "is in a top-level folder"),
            (dict(output_path="C:\\renders\\frame-####"), "is in a top-level folder"),
            (dict(output_path="/shots/seq1/frame-####"), "is in the folder of the .blend file"),
            (dict(output_path="/shots/seq1/"), "is in the folder of the .blend file"),
            (dict(blend_path="/p/shots/seq1/a.blend", output_path="/p/shots/f-#"), "is in the folder of the .blend"),
            (dict(file_format="NOPE"), "'NOPE' is not supported"),
            (dict(extra_settings="[1, 2]"), "must be a JSON object"),
            (dict(extra_settings="{oops"), "not valid JSON"),
            (dict(extra_settings='{"chunk_size": 0}'), "'chunk_size' must be at least 1"),
            (dict(extra_settings='{"chunk_size": "5"}'), "'chunk_size' must be a whole number"),
            (dict(extra_settings='{"fps": true}'), "'fps' must be a number"),
            (dict(extra_settings='{"images_or_video": "gif"}'), "must be one of \"images\", \"video\""),
        ]
        for overrides, fragment in cases:
            with self.assertRaises(ApiError, msg=overrides) as e:
                client.build_job(client.BLENDER_RENDER, **job_args(**overrides))
            self.assertIn(fragment, str(e.exception), overrides)

    def test_a_data_defined_type_gets_only_its_settings_its_defaults_and_the_extras(self):
        job_type = {"name": "preview", "settings": [
            {"key": "filepath", "type": "string", "required": True},
            {"key": "frames", "type": "string", "required": True},
            {"key": "quality", "type": "integer", "required": True, "default": 50, "min": 1, "max": 100},
            {"key": "denoise", "type": "boolean", "required": False, "default": None},
            {"key": "camera", "type": "string", "required": False},
        ]}
        body = client.build_job(job_type, **job_args(extra_settings='{"camera": "CamB", "note": "x"}'))
        self.assertEqual(body["job_type"], "preview")
        self.assertEqual(body["settings"], {"filepath": BLEND, "frames": "1-24", "quality": 50,
                                            "camera": "CamB", "note": "x"})
        with self.assertRaises(ApiError) as e:
            client.build_job(job_type, **job_args(extra_settings='{"quality": 101}'))
        self.assertIn("'quality' must be at most 100", str(e.exception))

    def test_required_settings_the_panel_cannot_fill_are_named(self):
        job_type = {"name": "comp", "settings": [
            {"key": "filepath", "type": "string", "required": True},
            {"key": "plate", "type": "string", "required": True},
            {"key": "lut", "type": "path", "required": True},
        ]}
        with self.assertRaises(ApiError) as e:
            client.build_job(job_type, **job_args())
        self.assertEqual(str(e.exception), "Job type 'comp' needs plate, lut: add them under Extra settings (JSON)")
        # Types the add-on does not know are left to the Manager to check.
        body = client.build_job(job_type, **job_args(extra_settings='{"plate": "/p", "lut": 5}'))
        self.assertEqual(body["settings"]["lut"], 5)

    def test_platform_names_are_the_workers(self):
        for sys_platform, want in [("linux", "linux"), ("win32", "windows"), ("darwin", "darwin"),
                                   ("freebsd13", "linux")]:
            self.assertEqual(client.platform_name(sys_platform), want)


class JobTypesTest(unittest.TestCase):
    def test_job_types_are_parsed_and_sorted(self):
        types = client.parse_job_types({"job_types": [
            {"name": "video", "settings": [{"key": "input", "type": "string", "choices": ["a", "b"]}]},
            {"name": "blender-render", "label": "Blender", "description": "frames", "source": "built-in",
             "settings": [{"key": "frames", "type": "string", "required": True}]},
        ]})
        self.assertEqual([t["name"] for t in types], ["blender-render", "video"])
        self.assertEqual(types[1]["label"], "video")  # no label: the name
        self.assertEqual(types[0]["settings"][0]["key"], "frames")

    def test_malformed_lists_are_refused(self):
        for body, fragment in [([], "no 'job_types' array"), ({"job_types": {}}, "no 'job_types' array"),
                               ({"job_types": [{"label": "x"}]}, "without a name"),
                               ({"job_types": [{"name": "x", "settings": {}}]}, "malformed settings"),
                               ({"job_types": [{"name": "x", "settings": [{"type": "string"}]}]}, "has no key"),
                               ({"job_types": [{"name": "x", "settings": [{"key": "a", "choices": "ab"}]}]},
                                "malformed choices")]:
            with self.assertRaises(ApiError) as e:
                client.parse_job_types(body)
            self.assertIn(fragment, str(e.exception), body)


def api_job(job_id, filepath, created, status="active", counts=None):
    return {"_id": job_id, "name": "n" + job_id, "job_type": "blender-render", "status": status,
            "settings": {"filepath": filepath}, "_created": created,
            "tasks_status": counts if counts is not None else {"count": 4, "completed": 1, "active": 1}}


class JobListTest(unittest.TestCase):
    def test_progress_is_the_share_of_completed_tasks(self):
        for counts, want in [({"count": 4, "completed": 1}, 25), ({"count": 3, "completed": 3}, 100),
                             ({"count": 3, "completed": 2}, 66), ({"count": 0}, 0), ({}, 0), (None, 0),
                             ({"count": "4", "completed": 1}, 0)]:
            self.assertEqual(client.job_progress({"tasks_status": counts}), want, counts)

    def test_only_the_files_jobs_newest_first(self):
        jobs = [api_job("a", BLEND, "2024-05-01T10:00:00Z"),
                api_job("b", "/shots/other.blend", "2024-05-01T11:00:00Z"),
                api_job("c", BLEND, "2024-05-02T09:00:00Z", "completed", {"count": 2, "completed": 2}),
                api_job("d", "{shots}/seq1/shot.blend", "2024-05-03T09:00:00Z"),
                {"_id": "e", "settings": "not an object"}, "junk"]
        mine = client.jobs_of_file(jobs, BLEND)
        self.assertEqual([(j["id"], j["status"], j["progress"]) for j in mine],
                         [("c", "completed", 100), ("a", "active", 25)])
        # A job whose path the Manager rewrote is found by its ID.
        self.assertEqual([j["id"] for j in client.jobs_of_file(jobs, BLEND, known_ids=["d"])], ["d", "c", "a"])

    def test_windows_separators_match(self):
        jobs = [api_job("a", "S:/shots/shot.blend", "2024-05-01T10:00:00Z")]
        self.assertEqual(len(client.jobs_of_file(jobs, "S:\\shots\\shot.blend")), 1)


class FakeManager:
    """An HTTP server on 127.0.0.1 answering from a table; records requests."""

    def __init__(self):
        self.routes = {}  # (method, path) -> (status, body bytes)
        self.requests = []  # (method, path, headers, body)
        self.delay_s = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                status, payload = fake.routes.get((self.command, self.path),
                                                  (404, b'{"message": "not found"}'))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def route(self, method, path, status, body):
        self.routes[(method, path)] = (status, body if isinstance(body, bytes) else json.dumps(body).encode())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class HttpTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeManager()
        self.addCleanup(self.fake.close)
        self.manager = client.Manager(self.fake.url + "/", "s3cret", timeout_s=2.0)

    def test_submit_sends_json_with_the_token_and_returns_the_id(self):
        self.fake.route("POST", "/api/jobs", 201, {"_id": "6650f0c2a1b2c3d4e5f60718", "name": "shot"})
        body = client.build_job(client.BLENDER_RENDER, **job_args())
        self.assertEqual(self.manager.submit(body), "6650f0c2a1b2c3d4e5f60718")
        method, path, headers, sent = self.fake.requests[-1]
        self.assertEqual((method, path), ("POST", "/api/jobs"))
        self.assertEqual(headers["Authorization"], "Bearer s3cret")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(sent), body)

    def test_without_a_token_no_authorization_header_is_sent(self):
        self.fake.route("POST", "/api/jobs", 401, {"message": "authentication required"})
        with self.assertRaises(ApiError) as e:
            client.Manager(self.fake.url, "").submit({"name": "x"})
        self.assertNotIn("Authorization", self.fake.requests[-1][2])
        self.assertIn("refused the login (no token set)", str(e.exception))

    def test_error_answers_become_one_readable_line(self):
        submit = lambda: self.manager.submit({"name": "x"})  # noqa: E731
        cases = [
            ("POST", "/api/jobs", 401, {"message": "invalid token"}, submit,
             "The Manager at %s refused the login (wrong token): set the API token in the Duende add-on's "
             "preferences (HTTP 401)" % self.fake.url),
            ("POST", "/api/jobs", 400, {"message": "invalid job: setting 'frames' is\nbad"}, submit,
             "The Manager could not accept the job: invalid job: setting 'frames' is bad (HTTP 400)"),
            ("POST", "/api/jobs", 403, {"message": "role viewer may not submit jobs"}, submit,
             "This token may not accept the job: role viewer may not submit jobs (HTTP 403)"),
            ("GET", "/api/jobs", 503, b"", self.manager.jobs,
             "The Manager could not list its jobs: no reason given (HTTP 503)"),
        ]
        for method, path, status, body, call, want in cases:
            self.fake.route(method, path, status, body)
            with self.assertRaises(ApiError) as e:
                call()
            self.assertEqual(str(e.exception), want)

    def test_check_login_asks_for_one_job_with_the_token(self):
        self.fake.route("GET", "/api/jobs?limit=1", 200, {"jobs": []})
        self.manager.check_login()
        self.assertEqual(self.fake.requests[-1][2]["Authorization"], "Bearer s3cret")
        self.fake.route("GET", "/api/jobs?limit=1", 401, {"message": "invalid token"})
        with self.assertRaises(ApiError) as e:
            self.manager.check_login()
        self.assertIn("refused the login (wrong token)", str(e.exception))

    def test_a_server_that_is_not_a_manager(self):
        self.fake.route("POST", "/api/jobs", 200, b"<html>hello</html>")
        with self.assertRaises(ApiError) as e:
            self.manager.submit({"name": "x"})
        self.assertIn("does not look like a Duende Manager", str(e.exception))
        self.fake.route("POST", "/api/jobs", 201, {"name": "x"})
        with self.assertRaises(ApiError) as e:
            self.manager.submit({"name": "x"})
        self.assertIn("sent no job ID", str(e.exception))

    def test_job_types_fall_back_to_blender_render_on_404(self):
        self.assertEqual(self.manager.job_types(), [client.BLENDER_RENDER])
        self.assertEqual(self.fake.requests[-1][1], "/api/job-types")

    def test_job_types_from_the_manager(self):
        self.fake.route("GET", "/api/job-types", 200, {"job_types": [
            {"name": "ffmpeg-video", "label": "Video", "description": "", "source": "/etc/duende/job-types",
             "settings": [{"key": "input", "type": "string", "required": True}]}]})
        types = self.manager.job_types()
        self.assertEqual([t["name"] for t in types], ["ffmpeg-video"])
        self.fake.route("GET", "/api/job-types", 401, {"message": "no"})
        with self.assertRaises(ApiError) as e:
            self.manager.job_types()
        self.assertIn("refused the login", str(e.exception))

    def test_jobs_of_file(self):
        self.fake.route("GET", "/api/jobs", 200, {"jobs": [api_job("a", BLEND, "2024-05-01T10:00:00Z"),
                                                           api_job("b", "/x.blend", "2024-05-01T10:00:00Z")]})
        self.assertEqual([j["id"] for j in self.manager.jobs_of_file(BLEND)], ["a"])
        self.fake.route("GET", "/api/jobs", 200, {"items": []})
        with self.assertRaises(ApiError) as e:
            self.manager.jobs()
        self.assertIn("no 'jobs' array", str(e.exception))

    def test_unreachable_manager(self):
        port = self.fake.server.server_address[1]
        self.fake.close()
        with self.assertRaises(ApiError) as e:
            client.Manager("http://127.0.0.1:%d" % port, "t").jobs()
        self.assertEqual(str(e.exception), "Cannot reach the Manager at http://127.0.0.1:%d: Connection refused" % port)

    def test_unknown_host(self):
        with self.assertRaises(ApiError) as e:
            client.Manager("http://no-such-host.invalid:8080", "t").jobs()
        self.assertIn("Cannot reach the Manager at http://no-such-host.invalid:8080", str(e.exception))

    def test_a_manager_that_does_not_answer_in_time(self):
        self.fake.route("GET", "/api/jobs", 200, {"jobs": []})
        self.fake.delay_s = 1.0
        with self.assertRaises(ApiError) as e:
            client.Manager(self.fake.url, "t", timeout_s=0.2).jobs()
        self.assertEqual(str(e.exception), "The Manager at %s did not answer within 0.2 s" % self.fake.url)


if __name__ == "__main__":
    unittest.main()
