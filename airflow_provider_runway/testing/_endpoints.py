"""What the simulator serves: the two flavors, their path prefixes and every create endpoint.

The runway flavor serves every endpoint here (validated with the trimmed copy of Runway's spec); the gateway
flavor those the CometAPI gateway documents, under ``/runwayml``.
"""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "2024-11-06"
FLAVORS = ("gateway", "runway")
#: Where each flavor's API lives on the server (the gateway's base URL ends in ``/runwayml``).
PREFIXES = {"gateway": "/runwayml", "runway": ""}


@dataclass(frozen=True)
class SimEndpoint:
    """A create endpoint the simulator serves: what its outputs are, and whether the gateway has it."""

    output: str  # "video", "image" or "audio"
    gateway: bool = False


#: Every create endpoint served, one entry each: the runway flavor serves them all (validated with the
#: trimmed copy of Runway's spec), the gateway flavor those the CometAPI gateway documents.
ENDPOINTS: dict[str, SimEndpoint] = {
    "image_to_video": SimEndpoint("video", gateway=True),
    "video_to_video": SimEndpoint("video", gateway=True),
    "text_to_image": SimEndpoint("image", gateway=True),
    "video_upscale": SimEndpoint("video", gateway=True),
    "text_to_video": SimEndpoint("video"),
    "character_performance": SimEndpoint("video"),
    "video_to_hdr": SimEndpoint("video"),
    "image_upscale": SimEndpoint("image"),
    "sound_effect": SimEndpoint("audio"),
    "text_to_speech": SimEndpoint("audio"),
    "speech_to_speech": SimEndpoint("audio"),
    "voice_dubbing": SimEndpoint("audio"),
    "voice_isolation": SimEndpoint("audio"),
    "avatar_videos": SimEndpoint("video"),
    "generate/video": SimEndpoint("video"),
    "generate/image": SimEndpoint("image"),
    "generate/audio": SimEndpoint("audio"),
    "recipes/ad_localization": SimEndpoint("image"),
    "recipes/marketing_stock_image": SimEndpoint("image"),
    "recipes/product_ad": SimEndpoint("video"),
    "recipes/product_campaign_image": SimEndpoint("image"),
    "recipes/product_swap": SimEndpoint("video"),
    "recipes/multi_shot_video": SimEndpoint("video"),
    "recipes/product_ugc": SimEndpoint("video"),
}
GATEWAY_ENDPOINTS = tuple(name for name, endpoint in ENDPOINTS.items() if endpoint.gateway)
RUNWAY_ENDPOINTS = tuple(ENDPOINTS)
ACTIONS = {name: name.upper().replace("/", "_") for name in RUNWAY_ENDPOINTS}
OUTPUT_EXT = {"video": "mp4", "image": "png", "audio": "wav"}


def served(flavor: str) -> tuple[str, ...]:
    """The create endpoints a flavor serves."""
    return GATEWAY_ENDPOINTS if flavor == "gateway" else RUNWAY_ENDPOINTS


def output_ext(endpoint: str) -> str:
    """File extension of an endpoint's outputs (``mp4`` for an endpoint the table does not know)."""
    entry = ENDPOINTS.get(endpoint)
    return OUTPUT_EXT[entry.output] if entry else "mp4"
