"""JSON API handlers, one module per resource, registered through ``registry``."""
