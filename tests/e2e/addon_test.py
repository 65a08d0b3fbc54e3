"""Drives the Duende Blender add-on headless, as an artist would.

Usage (see addon_test.cc, which starts the Manager and a worker first):
    BLENDER_USER_SCRIPTS=TMP/scripts blender -b --factory-startup \
        --python-exit-code 1 --python tests/e2e/addon_test.py -- \
        REPO_DIR MANAGER_URL TOKEN_FILE WORK_DIR

Installs the add-on from REPO_DIR/addon into Blender (zip + Install, like
the preferences' "Install..." button), makes a tiny scene, saves it as
WORK_DIR/shot.blend, checks what the panel draws, checks that a wrong token, an unreachable Manager and
bad input give a clear error and submit nothing, then submits through the
Output panel's operator, writes the job ID to WORK_DIR/job-id and follows
the job in the add-on's job list until it completes.
"""

import os
import sys
import time
import types
import zipfile

import addon_utils
import bpy

# The farm renders 4 tiny frames; this is plenty even on a loaded machine.
JOB_TIMEOUT_S = 120


def fail(message):
    sys.stderr.write("addon_test: FAIL: %s\n" % message)
    sys.exit(1)


def expect_error(operator, fragment):
    """Runs `operator`; it must fail with an ERROR report containing `fragment`."""
    try:
        result = operator()
    except RuntimeError as e:
        # Blender raises the operator's ERROR report for calls from Python.
        if fragment not in str(e):
            fail("expected an error with %r, got %r" % (fragment, str(e)))
        if "Traceback" in str(e):
            fail("the error shows a traceback: %r" % str(e))
        print("addon_test: clear error as expected: %s" % str(e).strip())
        return
    fail("expected an error with %r, the operator returned %r" % (fragment, result))


def install_addon(repo_dir, work_dir):
    package = os.path.join(repo_dir, "addon", "duende")
    archive = os.path.join(work_dir, "duende-addon.zip")
    with zipfile.ZipFile(archive, "w") as z:
        for name in sorted(os.listdir(package)):
            if name.endswith(".py"):
                z.write(os.path.join(package, name), "duende/" + name)
    if bpy.ops.preferences.addon_install(filepath=archive) != {"FINISHED"}:
        fail("installing the add-on failed")
    if addon_utils.enable("duende", default_set=True) is None:
        fail("enabling the add-on failed")
    installed = addon_utils.module_bl_info(sys.modules["duende"])
    print("addon_test: installed %s %s from %s" % (installed["name"], installed["version"],
                                                  sys.modules["duende"].__file__))


class CheckingLayout:
    """Stands in for Blender's UILayout (there is no window in -b mode):
    checks that every property and operator the panel draws exists."""

    def __init__(self):
        self.drawn = []

    def _check(self, data, name):
        if name not in data.bl_rna.properties:
            fail("the panel draws %s.%s, which does not exist" % (data.bl_rna.identifier, name))
        self.drawn.append(name)

    def prop(self, data, name, **_kwargs):
        self._check(data, name)

    def operator(self, idname, **_kwargs):
        module, name = idname.split(".")
        getattr(getattr(bpy.ops, module), name).get_rna_type()  # raises for an unknown operator
        self.drawn.append(idname)

    def template_list(self, list_type, _list_id, data, prop, active_data, active_prop, **_kwargs):
        if not hasattr(bpy.types, list_type):
            fail("the panel draws the unknown list %s" % list_type)
        self._check(data, prop)
        self._check(active_data, active_prop)

    def row(self, **_kwargs):
        return self

    column = row

    def label(self, **_kwargs):
        pass

    def separator(self, **_kwargs):
        pass


def check_panel():
    layout = CheckingLayout()
    bpy.types.DUENDE_PT_render_farm.draw(types.SimpleNamespace(layout=layout), bpy.context)
    for name in ("manager_url", "manager_token", "job_type", "frame_start", "frame_end", "chunk_size",
                 "priority", "output_path", "duende.submit", "duende.refresh_jobs", "duende_jobs"):
        if name not in layout.drawn:
            fail("the panel does not show %s (it shows %s)" % (name, layout.drawn))
    item = bpy.context.window_manager.duende_jobs.add()
    item_layout = CheckingLayout()
    bpy.types.DUENDE_UL_jobs.draw_item(None, bpy.context, item_layout, None, item, 0, None, "", 0, 0)
    bpy.context.window_manager.duende_jobs.clear()
    if "progress" not in item_layout.drawn:
        fail("the job list does not show progress (it shows %s)" % item_layout.drawn)


def make_scene(blend_path):
    """The factory cube, 4 frames at 32x18 with Cycles at 1 sample."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 4
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    for layer in scene.view_layers:
        layer.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 32, 18
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.wm.save_as_mainfile(filepath=blend_path)


def main():
    argv = sys.argv[sys.argv.index("--") + 1:]
    if len(argv) != 4:
        fail("usage: ... -- REPO_DIR MANAGER_URL TOKEN_FILE WORK_DIR")
    repo_dir, manager_url, token_file, work_dir = argv
    with open(token_file) as f:
        token = f.read().strip()

    install_addon(repo_dir, work_dir)
    blend_path = os.path.join(work_dir, "shot.blend")
    prefs = bpy.context.preferences.addons["duende"].preferences
    props = bpy.context.scene.duende

    check_panel()
    # Before the file is saved there is nothing to render.
    expect_error(bpy.ops.duende.submit, "Save the .blend file first")
    make_scene(blend_path)
    saved = os.stat(blend_path).st_mtime_ns

    # A job type the file names but the Manager does not offer stays
    # selectable (by name) and is refused at submission.
    props.job_type_name = "no-such-type"
    if props.job_type != "no-such-type":
        fail("the job type menu shows %r for a type the Manager has not offered" % props.job_type)
    prefs.manager_url = manager_url
    prefs.manager_token = token
    expect_error(bpy.ops.duende.submit, "The Manager has no job type 'no-such-type'")
    props.job_type = "blender-render"
    if props.job_type_name != "blender-render":
        fail("choosing blender-render in the menu stored %r" % props.job_type_name)
    props.chunk_size = 4  # one render task: each is a Blender start-up
    props.priority = 60
    props.output_path = os.path.join(work_dir, "render", "shot", "frame-######")

    prefs.manager_url = manager_url
    prefs.manager_token = "not-the-token"
    expect_error(bpy.ops.duende.submit, "refused the login")
    prefs.manager_url = "http://127.0.0.1:1"
    prefs.manager_token = token
    expect_error(bpy.ops.duende.submit, "Cannot reach the Manager at http://127.0.0.1:1")
    prefs.manager_url = "farm:8080"
    expect_error(bpy.ops.duende.submit, "Manager URL must look like http://host:port")
    prefs.manager_url = manager_url
    props.extra_settings = "{not json"
    expect_error(bpy.ops.duende.submit, "Extra settings are not valid JSON")
    props.extra_settings = ""
    props.output_path = "relative/frame-######"
    expect_error(bpy.ops.duende.submit, "The output path must be absolute")
    # Empty: the scene's output path, Blender's default /tmp/ here, which the
    # job would move aside when it finishes.
    props.output_path = ""
    expect_error(bpy.ops.duende.submit, "'/tmp/######' is in a top-level folder")
    props.output_path = "//frame-######"
    expect_error(bpy.ops.duende.submit, "is in the folder of the .blend file")
    props.output_path = os.path.join(work_dir, "render", "shot", "frame-######")
    if props.last_job_id:
        fail("a failed submission set a job ID: %s" % props.last_job_id)
    if os.stat(blend_path).st_mtime_ns != saved:
        fail("a failed submission saved the file")

    if bpy.ops.duende.fetch_job_types() != {"FINISHED"}:
        fail("fetching job types failed")
    if bpy.ops.duende.submit() != {"FINISHED"}:
        fail("submitting failed")
    job_id = props.last_job_id
    if len(job_id) != 24:
        fail("the reported job ID %r is not an ObjectId" % job_id)
    with open(os.path.join(work_dir, "job-id"), "w") as f:
        f.write(job_id + "\n")
    print("addon_test: submitted job %s" % job_id)

    # The job list of this file, refreshed by its operator, until it is done.
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        if bpy.ops.duende.refresh_jobs() != {"FINISHED"}:
            fail("refreshing the job list failed")
        jobs = bpy.context.window_manager.duende_jobs
        if len(jobs) != 1 or jobs[0].job_id != job_id:
            fail("the job list should hold only job %s, has %s" % (job_id, [j.job_id for j in jobs]))
        if jobs[0].status in ("failed", "canceled"):
            fail("job %s ended %s" % (job_id, jobs[0].status))
        if jobs[0].status == "completed":
            break
        if time.monotonic() > deadline:
            fail("job %s not completed after %d s: %s %d%%" % (job_id, JOB_TIMEOUT_S, jobs[0].status,
                                                                 jobs[0].progress))
        time.sleep(1.0)
    if jobs[0].progress != 100:
        fail("completed job shows %d%%" % jobs[0].progress)
    print("addon_test: job %s completed, the list shows %s %d%%" % (job_id, jobs[0].status, jobs[0].progress))


main()
