// CloudFront Function (cloudfront-js-2.0, viewer request). It keeps the cache key small:
// the Accept header is reduced to one of four values, every query parameter except the ones
// that change the response (tr, ik-s, ik-t) is dropped, and on endpoints with `widths` a
// written width is snapped to the list, as the runtime snaps it, so `w-333` and `w-334` are one
// cache entry. Then the URI is rewritten image first (README "Fixing a stale image"), so every
// cached variant of one image shares one invalidation prefix. No dependencies, no module
// syntax: CloudFront runs this file as it is, after the construct has filled in the line below.
// Written to the CloudFront Developer Guide's "JavaScript runtime 2.0 features for CloudFront
// Functions" (ES 5.1 with some later features: var, regular expressions, encodeURIComponent and
// decodeURIComponent), "CloudFront Functions event structure" (header names arrive lower-case; the
// request returned keeps the event's structure) and its 10 KB limit on a function's code.

// Every endpoint as [prefix, widths or null, cloudinaryUrls], as the configuration normalises
// them; limits.maxOutputDimension; the Cloudinary parameter keys (",w,h,...,") when an endpoint
// takes Cloudinary URLs.
var CONFIG = { endpoints: [], maxDimension: 8192, cloudinaryKeys: '' };
var ENDPOINTS = CONFIG.endpoints;

var HAS_WIDTHS = ENDPOINTS.some(function (endpoint) { return endpoint[1] !== null; });

var KEPT_QUERY_PARAMETERS = { 'tr': true, 'ik-s': true, 'ik-t': true };
var PLAIN_CHAIN = /^[A-Za-z0-9_.,:-]+$/;
var WHOLE = /^[1-9][0-9]*$/;
var DECIMAL = /^[0-9]+(\.[0-9]+)?$/;

// The runtime picks AVIF or WebP when Accept names it with q > 0 (the higher q, AVIF on a tie),
// else the input's format; wildcards do not count. These values land in those branches, and keep
// what a step-down needs: whether WebP is accepted.
var ACCEPT_AVIF = 'image/avif,image/webp';
// AVIF but not WebP: an AVIF over the cost limits must then step down past WebP.
var ACCEPT_AVIF_ONLY = 'image/avif';
var ACCEPT_WEBP = 'image/webp';
var ACCEPT_OTHER = 'image/*';
var QVALUE = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/;

// The q of a type the header names itself; 0 when it is not named. A malformed q leaves its
// range out; named twice, the lower q wins (as lambda/image/format.ts reads it).
function listedQuality(text, type) {
  var q = 0;
  var listed = false;
  var ranges = text.split(',');
  for (var i = 0; i < ranges.length; i++) {
    var parts = ranges[i].split(';');
    if (parts[0].trim() !== type) continue;
    var value = 1;
    for (var j = 1; j < parts.length; j++) {
      var param = parts[j].split('=');
      if (param[0].trim() === 'q') value = QVALUE.test((param[1] || '').trim()) ? Number(param[1].trim()) : -1;
    }
    if (value < 0) continue;
    q = listed ? Math.min(q, value) : value;
    listed = true;
  }
  return q;
}

function acceptBucket(header) {
  if (!header) return ACCEPT_OTHER;
  var text = header.value || '';
  if (header.multiValue) {
    text = header.multiValue.map(function (v) { return v.value; }).join(',');
  }
  text = text.toLowerCase();
  var avif = listedQuality(text, 'image/avif');
  var webp = listedQuality(text, 'image/webp');
  if (avif > 0 && avif >= webp) return webp > 0 ? ACCEPT_AVIF : ACCEPT_AVIF_ONLY;
  if (webp > 0) return ACCEPT_WEBP;
  return ACCEPT_OTHER;
}

// The endpoint the runtime would pick: the longest prefix matching whole path segments.
function endpointOf(segments) {
  var best = null;
  var bestLength = -1;
  for (var i = 0; i < ENDPOINTS.length; i++) {
    var prefix = ENDPOINTS[i][0] === '' ? [] : ENDPOINTS[i][0].split('/');
    if (prefix.length <= bestLength || prefix.length > segments.length) continue;
    var match = true;
    for (var j = 0; j < prefix.length; j++) if (prefix[j] !== segments[j]) match = false;
    if (match) {
      best = ENDPOINTS[i];
      bestLength = prefix.length;
    }
  }
  return best ? { widths: best[1], length: bestLength, cloudinary: best[2] === true } : null;
}

// One step, as lambda/request/endpoint-rules.ts snaps it: w × dpr rounded up to the list, dpr
// folded in, h scaled by the same factor. Anything else (a fraction, a named transformation, a
// width above the list, a repeated key) is left for the runtime to judge.
function snapStep(step, widths) {
  var params = step.split(',');
  var at = {};
  for (var i = 0; i < params.length; i++) {
    // Effects are keyed by their name (e-grayscale, e-usm), as in the runtime's grammar.
    var key = params[i].indexOf('e-') === 0 ? params[i].split('-').slice(0, 2).join('-') : params[i].split('-')[0];
    if (key === 'n' || at[key] !== undefined) return step;
    at[key] = i;
  }
  if (at.w === undefined || at.b !== undefined || (at.c !== undefined && params[at.c] === 'c-at_least')) return step;
  var w = params[at.w].slice(2);
  var h = at.h === undefined ? null : params[at.h].slice(2);
  var dpr = at.dpr === undefined ? '1' : params[at.dpr].slice(4);
  if (!WHOLE.test(w) || (h !== null && !WHOLE.test(h)) || !DECIMAL.test(dpr)) return step;
  // Values the runtime refuses stay as written, so its 400 names what was written.
  if (Number(w) > CONFIG.maxDimension || (h !== null && Number(h) > CONFIG.maxDimension) || Number(dpr) < 0.1 || Number(dpr) > 5) return step;
  var requested = Math.round(Number(w) * Number(dpr));
  var allowed = null;
  for (var k = 0; k < widths.length && allowed === null; k++) if (widths[k] >= requested) allowed = widths[k];
  if (allowed === null || requested < 1) return step;
  params[at.w] = 'w-' + allowed;
  if (h !== null) {
    var height = Math.max(1, Math.round((Number(h) * Number(dpr) * allowed) / requested));
    // Too tall once scaled: the runtime refuses it, and its message should name what was written.
    if (height > CONFIG.maxDimension) return step;
    params[at.h] = 'h-' + height;
  }
  if (at.dpr !== undefined) params[at.dpr] = '';
  return params.filter(function (p) { return p !== ''; }).join(',');
}

// A chain with layers (`l-image,…,l-end`) is left as written: a `:` inside a layer separates
// the layer's own steps, whose w- sizes the layer, not the response.
var LAYER = /(^|[,:])l-/;

function snapChain(chain, widths) {
  if (!PLAIN_CHAIN.test(chain) || LAYER.test(chain)) return chain;
  return chain.split(':').map(function (step) { return snapStep(step, widths); }).join(':');
}

// Unsigned requests only: a signature covers the chain as written.
function snapWidths(request) {
  if (!HAS_WIDTHS || request.querystring['ik-s']) return;
  var segments = request.uri.split('/').slice(1);
  var endpoint = endpointOf(segments);
  if (!endpoint || !endpoint.widths) return;
  var first = segments[endpoint.length];
  if (first !== undefined && first.indexOf('tr:') === 0 && segments.slice(endpoint.length + 1).join('/') !== '') {
    segments[endpoint.length] = 'tr:' + snapChain(first.slice(3), endpoint.widths);
    request.uri = '/' + segments.join('/');
  }
  var query = request.querystring.tr;
  if (query && !query.multiValue) query.value = snapChain(query.value, endpoint.widths);
}

// The canonical URI (lambda/request/cache-key.ts reads it back):
//   /<endpoint prefix>/<image path>/!<moved>[!<image path as written>]
// The image path comes first, each segment decoded and written one way (canonicalSegment), so
// an invalidation of `/<prefix>/<path>/!*` reaches every variant: CloudFront's "What you need to
// know when invalidating paths" lets `*` stand only at the end and matches paths case-sensitively,
// and says an invalidation covers every header value (the Accept classes) and, with `*`, every
// query string (tr, ik-s, ik-t stay in the query, after the path). <moved> is what stood between
// the prefix and the image: the `tr:` segment, and on Cloudinary endpoints the transformation
// components, the URL signature and the version (`image/upload/` stays: it names the asset).
// The viewer's own spelling follows when it differs, so a signature is checked against what the
// viewer signed.
var TR_SEGMENT = /^tr(:|%3[Aa])/;
var CLD_TYPE = /^[a-z][a-z_]*$/;
var CLD_VERSION = /^v\d+$/;
var CLD_SIGNATURE = /^s--[A-Za-z0-9_-]{8,32}--$/;
var CLD_PART = /^(\$?[a-z]{1,3})_(.+)$/;
var CANONICAL_HEADER = 'x-afterimage-canonical';

// Non-ASCII and RFC 1738's unsafe characters percent-encoded (as invalidation paths must be),
// nothing else; `*` too, since an invalidation path takes it only as the final wildcard.
function canonicalSegment(text) {
  return encodeURIComponent(text)
    .replace(/%(2[46BC]|3[ABD]|40)/g, function (c) { return decodeURIComponent(c); })
    .replace(/[~*]/g, function (c) { return '%' + c.charCodeAt(0).toString(16).toUpperCase(); });
}

// Within the variant segment: '/' and '!' must not appear, '%' keeps the rest reversible.
function lightEncode(text) {
  return text.replace(/[%/!]/g, function (c) { return '%' + c.charCodeAt(0).toString(16).toUpperCase(); });
}

// As lambda/request/cloudinary-url.ts: every part `<key>_<value>`, one key at least known.
function isComponent(segment) {
  var parts = segment.split(',');
  var known = false;
  for (var i = 0; i < parts.length; i++) {
    var m = CLD_PART.exec(parts[i]);
    if (!m) return false;
    if (m[1][0] === '$' || CONFIG.cloudinaryKeys.indexOf(',' + m[1] + ',') >= 0) known = true;
  }
  return known;
}

// How many segments after `<resource_type>/<type>/` are not the asset's name (as
// translateCloudinaryPath splits them); 0 when the path is not a Cloudinary delivery path.
function cloudinaryMoved(decoded) {
  if (decoded.length < 3 || !/^(image|video|raw)$/.test(decoded[0]) || !CLD_TYPE.test(decoded[1])) return 0;
  var skip = CLD_SIGNATURE.test(decoded[2]) ? 1 : 0;
  var rest = decoded.slice(2 + skip);
  var count = 0;
  var version = -1;
  for (var i = 0; i < rest.length - 1 && version < 0; i++) if (CLD_VERSION.test(rest[i])) version = i;
  if (version >= 0) count = version + 1; // before a version, every segment is a component (the runtime's 400 names a malformed one)
  else while (count < rest.length - 1 && isComponent(rest[count])) count++;
  return skip + count;
}

function canonicalize(request) {
  if (typeof request.uri !== 'string') return;
  var segments = request.uri.split('/').slice(1);
  var endpoint = endpointOf(segments);
  if (!endpoint) return;
  var rest = segments.slice(endpoint.length);
  var moved = [];
  if (rest.length > 0 && TR_SEGMENT.test(rest[0])) moved.push(rest.shift());
  var decoded = [];
  try {
    for (var i = 0; i < rest.length; i++) decoded.push(decodeURIComponent(rest[i]));
  } catch (e) {
    // Malformed percent-encoding: left as written, for the runtime's 400.
    return;
  }
  var count = endpoint.cloudinary ? cloudinaryMoved(decoded) : 0;
  moved = moved.concat(rest.splice(2, count));
  decoded.splice(2, count);
  if (rest.join('') === '') return;
  // Joined and split again: an encoded '/' (`a%2Fb`) is the same image as `a/b`, so the same key prefix.
  var path = decoded.join('/').split('/').map(canonicalSegment).join('/');
  var written = rest.join('/');
  var head = segments.slice(0, endpoint.length).join('/');
  // Decoded, the path would reach another endpoint (`/%61/b/x.jpg` with a prefix `a/b`): left as
  // written, for the runtime's 400.
  if (endpointOf((head === '' ? [] : head.split('/')).concat(path.split('/'))).length !== endpoint.length) return;
  request.uri = '/' + (head === '' ? '' : head + '/') + path + '/!' + lightEncode(moved.join('/')) + (written === path ? '' : '!' + lightEncode(written));
  request.headers[CANONICAL_HEADER] = { value: '1' };
}

function handler(event) {
  var request = event.request;
  request.headers.accept = { value: acceptBucket(request.headers.accept) };
  // Only this function says a URI is canonical.
  delete request.headers[CANONICAL_HEADER];

  // Keys are visited in the viewer's order, which signed URLs depend on.
  var kept = {};
  var query = request.querystring || {};
  for (var name in query) {
    if (KEPT_QUERY_PARAMETERS[name] === true) kept[name] = query[name];
  }
  request.querystring = kept;
  // The playground page (README "The playground in a deployment") is not an image: kept as written.
  if (request.uri === '/_afterimage/playground') return request;
  snapWidths(request);
  canonicalize(request);
  return request;
}
