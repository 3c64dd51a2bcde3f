"""Properties for sending selected meshes: the detail, remesh and retexture options, and the
source objects a job records so that its result can replace them.

Options hang under `Scene.thrixel.detail`; sources hang on each job record. Numeric options
use soft limits at the documented ranges, so a value typed outside them reaches the operator,
which rejects it with a message naming the field and the range instead of clamping it silently.
"""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup
from mathutils import Matrix

TEXTURE_SIZE_ITEMS = [
    ('512', "512", "512 × 512 pixels"),
    ('768', "768", "768 × 768 pixels"),
    ('1024', "1024", "1024 × 1024 pixels"),
    ('2048', "2048", "2048 × 2048 pixels"),
]
IMAGE_SOURCE_ITEMS = [
    ('NONE', "None", "Send no image"),
    ('FILE', "Image File", "A PNG or JPEG file on disk"),
    ('DATABLOCK', "Image in File", "An image already loaded in this Blender file"),
]
SCOPE_ITEMS = [
    ('SELECTION', "Selection", "Send only the selected objects; the result replaces them"),
    (
        'MODEL',
        "Whole Model",
        "Send the whole model the selection belongs to (its parent hierarchy, or its "
        "collection) and focus on the selected parts; the result replaces the whole model",
    ),
]


class THRIXEL_PG_job_source(PropertyGroup):
    """One scene object that a job's result replaces."""

    source_object: PointerProperty(
        name="Object", type=bpy.types.Object, description="The source object in the scene"
    )
    object_name: StringProperty(
        name="Object Name", description="Name of the source object when the job was started"
    )
    node_name: StringProperty(
        name="Node Name",
        description="Name of the matching node in the model stored on the service",
    )
    matrix: FloatVectorProperty(
        name="World Matrix",
        size=16,
        description="World matrix of the source when the job was started, row by row",
    )
    focused: BoolProperty(name="Focused", description="Whether the job focused on this object")
    render_hidden_by_job: BoolProperty(
        name="Render Hidden by Job",
        description="Whether placing the result turned off rendering for this object",
    )

    def set_matrix(self, matrix: Matrix) -> None:
        self.matrix = [matrix[row][column] for row in range(4) for column in range(4)]

    def get_matrix(self) -> Matrix:
        values = list(self.matrix)
        return Matrix([values[0:4], values[4:8], values[8:12], values[12:16]])


def _image_is_usable(_options: PropertyGroup, image: bpy.types.Image) -> bool:
    return image.type in ('IMAGE', 'UV_TEST')


class THRIXEL_PG_detail_options(PropertyGroup):
    """Options of Detail, Remesh and Retexture in the Selected panel, with the service's
    documented defaults."""

    scope: EnumProperty(name="Send", items=SCOPE_ITEMS, default='SELECTION')
    use_scene_geometry: BoolProperty(
        name="Send Scene Geometry",
        description="Upload the objects as they are in the scene, edits included, instead of "
        "detailing the submission they were imported from",
    )

    # Detail
    prompt: StringProperty(
        name="Prompt",
        description="Text description of the desired appearance. Leave empty to let the "
        "service derive it from the model",
    )
    image_source: EnumProperty(
        name="Reference Image",
        items=IMAGE_SOURCE_ITEMS,
        default='NONE',
        description="Image that guides the texture style. Without one the service generates it",
    )
    image_path: StringProperty(name="Image File", subtype='FILE_PATH')
    image: PointerProperty(name="Image", type=bpy.types.Image, poll=_image_is_usable)
    seed: IntProperty(
        name="Seed",
        description="Random seed, for reproducible results (0 to 999,999)",
        default=42,
        soft_min=0,
        soft_max=999_999,
    )
    texture_size: EnumProperty(
        name="Texture Size",
        items=TEXTURE_SIZE_ITEMS,
        default='768',
        description="Resolution of the output texture, in pixels",
    )
    decimation_target: IntProperty(
        name="Triangles",
        description="Triangle count after decimation (10,000 to 500,000)",
        default=160_000,
        soft_min=10_000,
        soft_max=500_000,
    )
    preserve_parts: BoolProperty(
        name="Preserve Parts",
        description="Keep separate mesh parts intact during decimation",
        default=True,
    )
    focus_mode: EnumProperty(
        name="Focus Mode",
        items=[
            ('latent', "Latent", "Apply the focus in the latent stage"),
            ('sparse_structure', "Sparse Structure", "Apply the focus in the sparse structure"),
        ],
        default='latent',
        description="Where the generation applies the focus on the selected parts",
    )
    control_mesh_voxelize_res: IntProperty(
        name="Voxel Resolution",
        description="Voxel resolution for mesh conditioning (256 to 2,048)",
        default=512,
        soft_min=256,
        soft_max=2048,
    )
    pipeline_type: EnumProperty(
        name="Pipeline",
        items=[
            ('DEFAULT', "Service Default", "Let the service choose the pipeline"),
            ('1024_cascade', "1024 Cascade", "The 1024 cascade pipeline"),
            ('1536_cascade', "1536 Cascade", "The 1536 cascade pipeline"),
        ],
        default='DEFAULT',
        description="Detailer pipeline variant",
    )
    use_noise_timestep: BoolProperty(
        name="Set Noise Timestep",
        description="Send a sparse-structure noise timestep instead of the service's choice",
    )
    noise_timestep: IntProperty(
        name="Noise Timestep",
        description="Sparse-structure noise timestep index (0 to 12)",
        default=0,
        soft_min=0,
        soft_max=12,
    )
    control_mesh_url: StringProperty(
        name="Control Mesh URL",
        description="https:// URL of a GLB to use as the control mesh instead of the "
        "parent's model. Leave empty to use the parent's model",
    )
    project_id: StringProperty(
        name="Project ID",
        description="Id of the project the new submissions are assigned to. Leave empty for none",
    )

    # Remesh
    remesh_decimation_target: IntProperty(
        name="Triangles",
        description="Triangle count of the new mesh (10,000 to 500,000)",
        default=200_000,
        soft_min=10_000,
        soft_max=500_000,
    )
    remesh_quads: BoolProperty(
        name="Quad Remesh", description="Run quad remeshing before decimation", default=True
    )

    # Retexture
    retexture_texture_size: EnumProperty(
        name="Texture Size",
        items=TEXTURE_SIZE_ITEMS,
        default='1024',
        description="Resolution of the new texture, in pixels",
    )
    retexture_mode: EnumProperty(
        name="Mode",
        items=[
            ('rebake', "Rebake", "Project the existing texture again"),
            ('regenerate', "Regenerate", "Generate a new texture from a reference image"),
            ('rebake_texture', "Rebake Texture", "Rebake the UVs only"),
        ],
        default='rebake',
    )
    retexture_image_source: EnumProperty(
        name="Reference Image",
        items=IMAGE_SOURCE_ITEMS[1:],
        default='FILE',
        description="Image for the regenerate mode",
    )
    retexture_image_path: StringProperty(name="Image File", subtype='FILE_PATH')
    retexture_image: PointerProperty(name="Image", type=bpy.types.Image, poll=_image_is_usable)


classes = (THRIXEL_PG_job_source, THRIXEL_PG_detail_options)
