"""The desktop studio (PySide6 on qasync): the only package that imports Qt."""
