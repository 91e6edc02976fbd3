"""Consent for photographs of real people.

Before a reference picture that shows a photographed face is stored (a new character, a new
look, a changed picture, Use as reference), the member confirms that it is themselves or that
the person gave permission; the confirmation is stored with the character. Drawn and stylised
characters are not asked (see bot/vision/faces.py for how they are told apart). Where the
vision checks are not installed, faces can't be told apart, so every picture asks.
"""

from __future__ import annotations

from enum import StrEnum

from bot.errors import CameoError
from bot.images.processing import CleanImage
from bot.vision.service import Vision


class Consent(StrEnum):
    SELF = "self"
    PERMISSION = "permission"


class ConsentNeeded(CameoError):
    """The picture shows (or may show) a photographed face and the member has not confirmed."""

    def __init__(self, *, checked: bool) -> None:
        self.checked = checked
        found = (
            "This picture looks like a photograph of a real person."
            if checked
            else "Cameo can't check pictures for faces here, so it asks about every picture."
        )
        super().__init__(
            f"{found} Pictures of people are only used with their permission: is it you, or "
            "do you have their permission? Nothing is stored until you confirm."
        )


class NoFaceInPhoto(CameoError):
    """The reference is a photograph with no face Cameo can find: likeness can't be scored."""

    def __init__(self) -> None:
        super().__init__(
            "This picture looks like a photograph, but Cameo can't find a face in it (too small, "
            "turned away, covered or cut off). The image services copy a character's face from "
            "its picture, so scenes may not look like them, and their likeness can't be scored. "
            "A clear photo of the face, looking at the camera, works best. Register it anyway?"
        )


async def consent_for(
    vision: Vision | None, clean: CleanImage, given: Consent | None, *, warn_no_face: bool = False
) -> Consent | None:
    """The confirmation to store with this picture: None when it shows no photographed face,
    `given` when it does; ConsentNeeded when it does and nothing was given. With
    `warn_no_face`, a photograph without a face raises NoFaceInPhoto (a new character's
    picture: the member is warned before anything is stored)."""
    if vision is not None:
        finding = await vision.find_faces(clean.data)
        if not finding.photographic_face:
            if warn_no_face and finding.photograph_without_face:
                raise NoFaceInPhoto()
            return None
    if given is None:
        raise ConsentNeeded(checked=vision is not None)
    return given
