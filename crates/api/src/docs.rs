//! The interactive API reference at `/api/docs`: Scalar's standalone bundle, vendored in the
//! binary (`static/scalar`, MIT licence beside it), reading the OpenAPI document this server
//! generates. Nothing is fetched from elsewhere — a clinic network without internet access
//! gets the same page — and the page's own fonts are turned off in favour of the system's.

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// Scalar's standalone bundle (version 1.25.130).
const SCALAR: &[u8] = include_bytes!("../static/scalar/standalone.js");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>custody API</title>
</head>
<body>
<script id="api-reference" data-url="/api/openapi.json" data-configuration='{"withDefaultFonts":false,"hideClientButton":true}'></script>
<script src="/api/docs/scalar.js"></script>
</body>
</html>
"#;

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn bundle() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCALAR,
    )
        .into_response()
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/docs", get(page))
        .route("/api/docs/scalar.js", get(bundle))
}
