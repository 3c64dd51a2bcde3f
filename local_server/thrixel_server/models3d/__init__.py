"""Model files the local server makes and reworks: GLB, thumbnails, Blender scripts, exports."""
