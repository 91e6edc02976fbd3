"""What Cameo sees in pictures: faces (is this a photograph of a real person?) and an
age-restricted-content check. Needs the `vision` extra (OpenCV); without it `load_vision`
returns None and callers say the check is unavailable."""
