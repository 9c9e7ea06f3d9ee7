"""One module per area, each exposing an `APIRouter` named `router` that `web.app.create_app` includes."""
