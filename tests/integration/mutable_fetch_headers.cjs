// Opt-in (GATEWAY_FETCH_SHIM=1), preloaded into the gateway process: gateway 1.15.2 appends its
// x-portkey-* headers to the upstream's fetch() Response, whose headers are immutable on Node 20, and
// answers 500 to every response it passes through untransformed (embeddings, streams, GET /models).
// Handing the gateway a copy of each response with ordinary headers shows what a fixed gateway does.
"use strict";
const upstreamFetch = globalThis.fetch;
globalThis.fetch = async function (...args) {
  const response = await upstreamFetch.apply(this, args);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: new Headers(response.headers),
  });
};
