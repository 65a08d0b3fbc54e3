"""Builds Duende's demo scene: a small animated Cycles scene that renders fast.

Usage:
    blender -b --factory-startup --python scripts/make_demo_scene.py -- OUT.blend

The scene: a coloured cube that spins and hops across a ground plane, a
monkey on a pedestal for something to look at, a sun light and a camera.
24 frames at 24 fps, 320x180 PNG, Cycles on the CPU with 8 samples.

Denoising is switched off everywhere: Debian's Blender is built without
OpenImageDenoise, and a .blend that asks for it fails to render there.
"""

import math
import os
import sys

import bpy


def parse_output_path():
    argv = sys.argv
    args = argv[argv.index("--") + 1:] if "--" in argv else []
    if len(args) != 1:
        sys.stderr.write("usage: blender -b --factory-startup --python "
                         "make_demo_scene.py -- OUT.blend\n")
        sys.exit(2)
    return os.path.abspath(args[0])


def clear_scene():
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for collection in (bpy.data.meshes, bpy.data.materials, bpy.data.lights,
                       bpy.data.cameras):
        for block in list(collection):
            collection.remove(block)


def make_material(name, rgba, roughness=0.5):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = rgba
    bsdf.inputs["Roughness"].default_value = roughness
    return mat


def add_mesh(op, name, material, **kwargs):
    op(**kwargs)
    obj = bpy.context.active_object
    obj.name = name
    obj.data.materials.append(material)
    return obj


def build_scene(scene):
    ground = add_mesh(bpy.ops.mesh.primitive_plane_add, "Ground",
                      make_material("GroundMat", (0.8, 0.8, 0.75, 1.0), 0.9),
                      size=20.0, location=(0.0, 0.0, 0.0))

    cube = add_mesh(bpy.ops.mesh.primitive_cube_add, "SpinningCube",
                    make_material("CubeMat", (0.9, 0.25, 0.1, 1.0), 0.3),
                    size=1.0, location=(-2.0, 0.0, 0.5))
    bpy.ops.object.shade_smooth()
    bevel = cube.modifiers.new("Bevel", "BEVEL")
    bevel.width = 0.08
    bevel.segments = 3

    # Keyframes: a full turn and a hop from left to right over 24 frames.
    for frame, x, z, turn in ((1, -2.0, 0.5, 0.0), (12, 0.0, 1.6, 0.5),
                              (24, 2.0, 0.5, 1.0)):
        cube.location = (x, 0.0, z)
        cube.rotation_euler = (0.0, 0.0, turn * 2.0 * math.pi)
        cube.keyframe_insert("location", frame=frame)
        cube.keyframe_insert("rotation_euler", frame=frame)

    pedestal = add_mesh(bpy.ops.mesh.primitive_cylinder_add, "Pedestal",
                        make_material("PedestalMat", (0.15, 0.35, 0.8, 1.0)),
                        radius=0.6, depth=0.6, location=(3.0, 2.5, 0.3))
    monkey = add_mesh(bpy.ops.mesh.primitive_monkey_add, "Monkey",
                      make_material("MonkeyMat", (0.2, 0.75, 0.3, 1.0), 0.4),
                      size=1.0, location=(3.0, 2.5, 1.1))
    monkey.rotation_euler = (math.radians(-15.0), 0.0, 0.0)  # face the camera
    bpy.ops.object.shade_smooth()
    del ground, pedestal

    bpy.ops.object.light_add(type="SUN", location=(4.0, -4.0, 8.0))
    sun = bpy.context.active_object
    sun.name = "Sun"
    sun.data.energy = 4.0
    sun.rotation_euler = (math.radians(40.0), 0.0, math.radians(30.0))

    bpy.ops.object.camera_add(location=(0.0, -9.0, 3.5))
    camera = bpy.context.active_object
    camera.name = "Camera"
    camera.rotation_euler = (math.radians(76.0), 0.0, 0.0)
    camera.data.lens = 35.0
    scene.camera = camera

    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.use_nodes = True
    background = world.node_tree.nodes.get("Background")
    background.inputs["Color"].default_value = (0.35, 0.45, 0.6, 1.0)
    background.inputs["Strength"].default_value = 0.6


def configure_render(scene):
    scene.frame_start = 1
    scene.frame_end = 24
    scene.render.fps = 24
    scene.render.fps_base = 1.0

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 8
    scene.cycles.preview_samples = 8
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.cycles.use_preview_denoising = False
    scene.cycles.max_bounces = 4
    scene.cycles.diffuse_bounces = 2
    scene.cycles.glossy_bounces = 2
    scene.cycles.transmission_bounces = 2
    scene.cycles.volume_bounces = 0
    scene.cycles.transparent_max_bounces = 2
    for view_layer in scene.view_layers:
        view_layer.cycles.use_denoising = False
        view_layer.cycles.denoising_store_passes = False

    scene.render.resolution_x = 320
    scene.render.resolution_y = 180
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.use_file_extension = True
    scene.render.filepath = "//render/frame-######"


def main():
    out_path = parse_output_path()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    scene = bpy.context.scene
    clear_scene()
    build_scene(scene)
    configure_render(scene)
    scene.frame_set(1)
    bpy.ops.wm.save_as_mainfile(filepath=out_path, check_existing=False)
    print("duende: demo scene saved to %s" % out_path)


if __name__ == "__main__":
    main()
