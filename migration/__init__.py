"""Pure domain logic of meshshift: the spec, the ramp plan, the App Mesh -> Service Connect
translation, weight math, and the typed payloads exchanged between workflow and activities.

Nothing in this package imports Temporal or boto3, so it can be used from workflow code,
activities, the CLI and tests alike.
"""
