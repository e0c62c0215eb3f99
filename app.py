"""Hugging Face Space entry point: `python app.py` (or `make run`) serves the app on 127.0.0.1:7860."""

import os

from space.app import build_app, launch

demo = build_app()

if __name__ == "__main__":
    on_space = bool(os.environ.get("SPACE_ID"))
    launch(demo.queue(default_concurrency_limit=2, max_size=64),
           server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0" if on_space else "127.0.0.1"),
           server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
