"""Duende render farm: submit the current .blend file as a render job.

The Blender UI lives in `ui`; everything that talks to the Manager lives in
`client`, which does not import bpy, so it is testable without Blender.
"""

bl_info = {
    "name": "Duende Render Farm",
    "author": "Duende",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "Properties > Output > Duende Render Farm",
    "description": "Submit render jobs to a Duende Manager and follow their progress",
    "category": "Render",
}


def register():
    # Imported here so `client` (and its tests) load without bpy.
    from . import ui
    ui.register()


def unregister():
    from . import ui
    ui.unregister()
