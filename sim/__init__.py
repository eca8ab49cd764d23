"""The simulated world: AWS (moto plus meshshift's extensions), the demo's shop, its traffic, the
deep-health stand-ins and fault injection.

It is a test and demo double. Nothing in the product's production path imports it; only the
`meshshift sim` and `meshshift demo` commands (registered by the CLI) and the tests do.
"""
