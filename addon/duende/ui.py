"""Blender side of the add-on: preferences, the Output properties panel, the
operators. Reads Blender's state, hands it to `client`, and turns its
ApiError into an ERROR report (one line in the status bar, no traceback).
"""

import getpass
import os
import sys

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, IntProperty, PointerProperty,
                       StringProperty)

from . import client

ADDON_ID = __package__

# Job types the Manager offered when last asked; the built-in blender-render
# until then. The enum's items callback reads this list.
_job_types = [client.BLENDER_RENDER]
# Blender keeps only pointers to an enum callback's strings: the list must
# outlive the call, or the UI shows garbage.
_job_type_items = []


def _job_type_names(props):
    """The names the job type menu offers: the fetched types, plus the one
    the file names if the Manager has not been asked yet (or dropped it)."""
    names = [t["name"] for t in _job_types]
    if props.job_type_name and props.job_type_name not in names:
        names.append(props.job_type_name)
    return names


def _job_type_enum_items(props, _context):
    described = {t["name"]: t for t in _job_types}
    _job_type_items[:] = []
    for number, name in enumerate(_job_type_names(props)):
        t = described.get(name)
        label = t["label"] if t else name + " (not offered; fetch job types)"
        _job_type_items.append((name, label, (t and t["description"]) or name, number))
    return _job_type_items


# The menu stores the job type's name, not its position: the position of a
# type changes when the Manager's list does, the name does not.
def _get_job_type(props):
    names = _job_type_names(props)
    return names.index(props.job_type_name) if props.job_type_name in names else 0


def _set_job_type(props, number):
    names = _job_type_names(props)
    if 0 <= number < len(names):
        props.job_type_name = names[number]


def _prefs(context):
    return context.preferences.addons[ADDON_ID].preferences


def _manager(context):
    prefs = _prefs(context)
    return client.Manager(prefs.manager_url, prefs.manager_token)


def _known_ids(props):
    return [i for i in props.submitted_ids.split(",") if i]


class DuendePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    # Per user, not per file: a .blend handed to someone else carries no token.
    manager_url: StringProperty(name="Manager URL", default="http://127.0.0.1:8080",
                                description="Address of the Duende Manager, e.g. http://farm:8080")
    manager_token: StringProperty(name="API Token", subtype="PASSWORD",
                                  description="API token of a Duende user allowed to submit jobs "
                                  "(the Manager's DATA_DIR/admin-token, or a token from its config)")

    def draw(self, _context):
        self.layout.prop(self, "manager_url")
        self.layout.prop(self, "manager_token")


class DuendeJobItem(bpy.types.PropertyGroup):
    job_id: StringProperty(name="Job ID")
    job_name: StringProperty(name="Name")
    job_type: StringProperty(name="Type")
    status: StringProperty(name="Status")
    progress: IntProperty(name="Progress", subtype="PERCENTAGE", min=0, max=100)


class DuendeSceneSettings(bpy.types.PropertyGroup):
    job_type: EnumProperty(name="Job Type", items=_job_type_enum_items, get=_get_job_type, set=_set_job_type,
                           description="Job type to submit (Fetch Job Types asks the Manager)")
    job_type_name: StringProperty(name="Job Type Name", default=client.BLENDER_RENDER["name"])
    job_name: StringProperty(name="Job Name", description="Name of the job; empty: the .blend file's name")
    use_scene_frames: BoolProperty(name="Scene Frame Range", default=True,
                                   description="Render the scene's frame range")
    frame_start: IntProperty(name="Start", default=1, min=0)
    frame_end: IntProperty(name="End", default=250, min=0)
    chunk_size: IntProperty(name="Chunk Size", default=5, min=1, soft_max=100,
                            description="Frames rendered by one task")
    priority: IntProperty(name="Priority", default=50, min=1, max=100,
                          description="Higher runs first (1-100)")
    output_path: StringProperty(name="Output Path", subtype="FILE_PATH",
                                description="Where the farm writes the frames, e.g. //render/frame-######; "
                                "empty: the scene's output path")
    extra_settings: StringProperty(name="Extra Settings",
                                   description="More job settings as a JSON object, for job types that "
                                   "need settings this panel does not have")
    last_job_id: StringProperty(name="Last Job ID", description="ID of the job submitted last")
    # The IDs submitted from this file, comma separated: the job list finds
    # them even when the Manager rewrote their paths (two-way variables).
    submitted_ids: StringProperty(name="Submitted Job IDs")


def _frame_range(scene, props):
    if props.use_scene_frames:
        return scene.frame_start, scene.frame_end
    return props.frame_start, props.frame_end


def _fill_job_list(context, jobs):
    items = context.window_manager.duende_jobs
    items.clear()
    for job in jobs:
        item = items.add()
        item.job_id = job["id"]
        item.job_name = job["name"]
        item.job_type = job["job_type"]
        item.status = job["status"]
        item.progress = job["progress"]


class _ReportsApiErrors:
    """Operator mixin: `run` does the work; an ApiError it raises becomes an
    ERROR report (one line in the status bar) and cancels the operator."""

    def execute(self, context):
        try:
            return self.run(context)
        except client.ApiError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}


class DUENDE_OT_fetch_job_types(_ReportsApiErrors, bpy.types.Operator):
    bl_idname = "duende.fetch_job_types"
    bl_label = "Fetch Job Types"
    bl_description = "Ask the Manager which job types it offers"

    def run(self, context):
        types = _manager(context).job_types()
        _job_types[:] = types
        self.report({"INFO"}, "Duende: %d job type(s): %s" % (len(types), ", ".join(t["name"] for t in types)))
        return {"FINISHED"}


class DUENDE_OT_submit(_ReportsApiErrors, bpy.types.Operator):
    bl_idname = "duende.submit"
    bl_label = "Submit to Duende"
    bl_description = "Save the .blend file and submit it as a render job to the Duende Manager"

    def run(self, context):
        scene = context.scene
        props = scene.duende
        blend_path = bpy.data.filepath
        if not blend_path:
            raise client.ApiError("Save the .blend file first (File > Save As): the farm renders the saved file")
        manager = _manager(context)
        manager.check_login()
        # Asked every time: the Manager's schema decides which settings the
        # job needs, and an admin may have changed it.
        types = manager.job_types()
        _job_types[:] = types
        job_type = next((t for t in types if t["name"] == props.job_type_name), None)
        if job_type is None:
            raise client.ApiError("The Manager has no job type '%s'" % props.job_type_name)
        frame_start, frame_end = _frame_range(scene, props)
        body = client.build_job(
            job_type,
            name=props.job_name or os.path.splitext(os.path.basename(blend_path))[0],
            priority=props.priority,
            blend_path=blend_path,
            frame_start=frame_start,
            frame_end=frame_end,
            chunk_size=props.chunk_size,
            output_path=bpy.path.abspath(props.output_path or scene.render.filepath),
            file_format=scene.render.image_settings.file_format,
            fps=scene.render.fps / scene.render.fps_base,
            extra_settings=props.extra_settings,
            submitter=getpass.getuser(),
            platform=client.platform_name(sys.platform),
        )
        # Saved only once the job is known to be valid, just before it is
        # sent: the workers render the file as it is on disk.
        if bpy.ops.wm.save_mainfile() != {"FINISHED"}:
            raise client.ApiError("Could not save %s; nothing submitted" % blend_path)
        job_id = manager.submit(body)
        props.last_job_id = job_id
        props.submitted_ids = ",".join(_known_ids(props) + [job_id])
        self.report({"INFO"}, "Duende: submitted job %s (%s)" % (job_id, body["name"]))
        try:
            _fill_job_list(context, manager.jobs_of_file(blend_path, _known_ids(props)))
        except client.ApiError:
            pass  # the job is in; the list refreshes on request
        return {"FINISHED"}


class DUENDE_OT_refresh_jobs(_ReportsApiErrors, bpy.types.Operator):
    bl_idname = "duende.refresh_jobs"
    bl_label = "Refresh Jobs"
    bl_description = "Fetch the status and progress of this file's jobs from the Manager"

    def run(self, context):
        if not bpy.data.filepath:
            raise client.ApiError("This file is not saved yet, so it has no jobs")
        jobs = _manager(context).jobs_of_file(bpy.data.filepath, _known_ids(context.scene.duende))
        _fill_job_list(context, jobs)
        self.report({"INFO"}, "Duende: %d job(s) for this file" % len(jobs))
        return {"FINISHED"}


class DUENDE_UL_jobs(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0, flt_flag=0):
        row = layout.row(align=True)
        row.label(text=item.job_name, icon="RENDER_ANIMATION")
        row.label(text=item.status)
        row.prop(item, "progress", text="", slider=True, emboss=False)


class DUENDE_PT_render_farm(bpy.types.Panel):
    bl_label = "Duende Render Farm"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "output"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        props = context.scene.duende
        prefs = _prefs(context)

        layout.prop(prefs, "manager_url")
        layout.prop(prefs, "manager_token")
        row = layout.row(align=True)
        row.prop(props, "job_type")
        row.operator(DUENDE_OT_fetch_job_types.bl_idname, text="", icon="FILE_REFRESH")
        layout.prop(props, "job_name")
        layout.prop(props, "use_scene_frames")
        col = layout.column(align=True)
        col.enabled = not props.use_scene_frames
        col.prop(props, "frame_start")
        col.prop(props, "frame_end")
        layout.prop(props, "chunk_size")
        layout.prop(props, "priority")
        layout.prop(props, "output_path")
        layout.prop(props, "extra_settings")
        layout.operator(DUENDE_OT_submit.bl_idname, icon="RENDER_ANIMATION")
        if props.last_job_id:
            layout.label(text="Last job: " + props.last_job_id)

        layout.separator()
        row = layout.row()
        row.label(text="Jobs of this file")
        row.operator(DUENDE_OT_refresh_jobs.bl_idname, text="", icon="FILE_REFRESH")
        wm = context.window_manager
        layout.template_list("DUENDE_UL_jobs", "", wm, "duende_jobs", wm, "duende_jobs_index", rows=3)


_classes = (
    DuendePreferences,
    DuendeJobItem,
    DuendeSceneSettings,
    DUENDE_OT_fetch_job_types,
    DUENDE_OT_submit,
    DUENDE_OT_refresh_jobs,
    DUENDE_UL_jobs,
    DUENDE_PT_render_farm,
)


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.duende = PointerProperty(type=DuendeSceneSettings)
    # On the window manager: the job list is a view of the Manager, not part
    # of the file.
    bpy.types.WindowManager.duende_jobs = CollectionProperty(type=DuendeJobItem)
    bpy.types.WindowManager.duende_jobs_index = IntProperty()


def unregister():
    del bpy.types.WindowManager.duende_jobs_index
    del bpy.types.WindowManager.duende_jobs
    del bpy.types.Scene.duende
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
