"""The Gradio UI of ToolBrain Hub: one module per tab. UI only: every action calls the library."""
