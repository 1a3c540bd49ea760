import reflex as rx


def index() -> rx.Component:
    return rx.center(rx.heading("Steward"))


app = rx.App()
app.add_page(index, route="/")
