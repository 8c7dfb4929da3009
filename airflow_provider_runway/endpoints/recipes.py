"""``POST /v1/recipes/*``: Runway's versioned multi-step recipes, such as a product ad from product
images (Runway direct). No operators of their own: ``RunwayGenerateOperator`` with the recipe's body
(``{"version": "2026-06", ...}``), validated against the spec."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import Endpoint

ENDPOINTS = (
    Endpoint("recipes/ad_localization", output_ext="png"),
    Endpoint("recipes/marketing_stock_image", output_ext="png"),
    Endpoint("recipes/product_ad", output_ext="mp4"),
    Endpoint("recipes/product_campaign_image", output_ext="png"),
    Endpoint("recipes/product_swap", output_ext="mp4"),
    Endpoint("recipes/multi_shot_video", output_ext="mp4"),
    Endpoint("recipes/product_ugc", output_ext="mp4"),
)
