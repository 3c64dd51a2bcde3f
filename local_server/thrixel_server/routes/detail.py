"""Detail & Texture page: phase 4 detail, remesh, retexture and the reference image."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from .. import lifecycle
from ..auth import StoreDep
from ..limits import SubmitOwnerDep
from ..models3d.rework import node_names, rework_glb
from ..models3d.thumbnail import pattern_png
from ..store import Artifacts, Store, Submission, new_id
from ..validation import reject_field
from .workflow import ImageString, check_project, parent_for, reference_images, submitted

router = APIRouter(tags=["detail"])

TextureSize = Literal[512, 768, 1024, 2048]
DecimationTarget = Annotated[StrictInt, Field(ge=10_000, le=500_000)]


class DetailRequest(BaseModel):
    parent_submission_id: StrictStr
    image: ImageString | None = None
    mesh: StrictStr | None = None
    prompt: StrictStr | None = None
    seed: Annotated[StrictInt, Field(ge=0, le=999_999)] = 42
    texture_size: TextureSize = 768
    control_mesh_voxelize_res: Annotated[StrictInt, Field(ge=256, le=2048)] = 512
    decimation_target: DecimationTarget = 160_000
    pipeline_type: Literal["1024_cascade", "1536_cascade"] | None = None
    control_mesh_ss_lat_noise_t0idx: Annotated[StrictInt, Field(ge=0, le=12)] | None = None
    preserve_parts: StrictBool = True
    focus_on_node_names: list[StrictStr] = Field(default_factory=list)
    focus_mode: Literal["latent", "sparse_structure"] = "latent"
    project_id: StrictStr | None = None


class RemeshRequest(BaseModel):
    parent_submission_id: StrictStr
    decimation_target: DecimationTarget = 200_000
    remesh: StrictBool = True
    project_id: StrictStr | None = None


class RetextureRequest(BaseModel):
    parent_submission_id: StrictStr
    texture_size: TextureSize = 1024
    mode: Literal["rebake", "regenerate", "rebake_texture"] = "rebake"
    image: ImageString | None = None
    apply_to_node_names: list[StrictStr] = Field(default_factory=list)
    project_id: StrictStr | None = None


def check_node_names(glb: bytes, field: str, names: list[str]) -> None:
    known = set(node_names(glb))
    for position, name in enumerate(names):
        if name not in known:
            reject_field((field, position), f"Node '{name}' is not in the parent model.")


def control_mesh(parent: Submission, mesh: str | None) -> bytes:
    """Return the GLB to work on: the override in `mesh` when it is base64, else the parent's."""
    if mesh is None or mesh.startswith("https://"):
        return parent.artifacts.glb
    payload = mesh.split(",", 1)[1] if mesh.startswith("data:") else mesh
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        reject_field("mesh", "Mesh must be a base64 GLB, a data URL or an https:// URL.")
    if not data.startswith(b"glTF"):
        reject_field("mesh", "Mesh data is not a GLB file.")
    return data


WorkFactory = Callable[[Submission], lifecycle.Producer]


def create_phase4(
    store: Store,
    owner: str,
    parent: Submission,
    body: BaseModel,
    work: WorkFactory,
    references: list[bytes],
) -> Submission:
    parameters = body.model_dump()
    submission = Submission(
        id=new_id(),
        owner=owner,
        phase=4,
        parent_submission_id=parent.id,
        project_id=parameters.get("project_id") or parent.project_id,
        parameters=parameters,
        input={
            "type": "detail",
            "task": parameters.get("prompt"),
            "image": None,
            "images": None,
            "modification_request": None,
        },
    )
    submission.artifacts.reference_images = references
    store.add_submission(submission)
    lifecycle.start(store, submission, work(submission))
    return submission


def rework_producer(
    glb: bytes, *, nodes: list[str], target: int | None, size: int | None, seed_text: str
) -> WorkFactory:
    def for_submission(submission: Submission) -> lifecycle.Producer:
        def produce() -> Artifacts:
            result = rework_glb(
                glb,
                node_filter=nodes,
                decimation_target=target,
                texture_size=size,
                seed_text=seed_text,
            )
            submission.result = {
                "changed_node_names": result.changed_node_names,
                "triangles_before": result.triangles_before,
                "triangles_after": result.triangles_after,
            }
            return lifecycle.artifacts_for(result.glb, seed_text, submission.id)

        return produce

    return for_submission


def phase4_response(submission: Submission, request: Request) -> dict[str, Any]:
    response = submitted(submission)
    response["reference_image_url"] = str(
        request.url_for("detailer_reference", submission_id=submission.id)
    )
    return response


@router.post("/detailer/submit", name="detailer_submit")
async def submit_detail(
    body: DetailRequest, request: Request, store: StoreDep, owner: SubmitOwnerDep
) -> dict[str, Any]:
    parent = parent_for(store, owner, body.parent_submission_id)
    check_project(store, owner, body.project_id)
    glb = control_mesh(parent, body.mesh)
    check_node_names(glb, "focus_on_node_names", body.focus_on_node_names)
    seed_text = f"{body.prompt or ''}|{body.seed}"
    references = (
        reference_images([body.image])
        if body.image
        else [pattern_png(f"reference|{seed_text}", 512)]
    )
    work = rework_producer(
        glb,
        nodes=body.focus_on_node_names,
        target=body.decimation_target,
        size=body.texture_size,
        seed_text=seed_text,
    )
    submission = create_phase4(store, owner, parent, body, work, references)
    return phase4_response(submission, request)


@router.post("/detailer/remesh", name="detailer_remesh")
async def remesh(
    body: RemeshRequest, request: Request, store: StoreDep, owner: SubmitOwnerDep
) -> dict[str, Any]:
    parent = parent_for(store, owner, body.parent_submission_id, phases=(4,))
    check_project(store, owner, body.project_id)
    size = parent.parameters.get("texture_size", 768)
    work = rework_producer(
        parent.artifacts.glb,
        nodes=[],
        target=body.decimation_target,
        size=size,
        seed_text=f"remesh|{parent.id}",
    )
    submission = create_phase4(
        store, owner, parent, body, work, list(parent.artifacts.reference_images)
    )
    return phase4_response(submission, request)


@router.post("/detailer/retexture", name="detailer_retexture")
async def retexture(
    body: RetextureRequest, request: Request, store: StoreDep, owner: SubmitOwnerDep
) -> dict[str, Any]:
    parent = parent_for(store, owner, body.parent_submission_id, phases=(4,))
    check_project(store, owner, body.project_id)
    check_node_names(parent.artifacts.glb, "apply_to_node_names", body.apply_to_node_names)
    references = (
        reference_images([body.image]) if body.image else list(parent.artifacts.reference_images)
    )
    work = rework_producer(
        parent.artifacts.glb,
        nodes=body.apply_to_node_names,
        target=None,
        size=body.texture_size,
        seed_text=f"{body.mode}|{parent.id}",
    )
    submission = create_phase4(store, owner, parent, body, work, references)
    return phase4_response(submission, request)


@router.get("/detailer/reference/{submission_id}", name="detailer_reference")
async def reference(submission_id: str, store: StoreDep) -> Response:
    submission = store.submissions.get(submission_id)
    if submission is None or submission.phase != 4:
        raise HTTPException(404, f"Phase 4 submission '{submission_id}' not found.")
    if not submission.artifacts.reference_images:
        raise HTTPException(404, f"Submission '{submission_id}' has no reference image.")
    return Response(submission.artifacts.reference_images[0], media_type="image/png")
