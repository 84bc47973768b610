// CloudFront Function (cloudfront-js-2.0, viewer request). It keeps the cache key small:
// the Accept header is reduced to one of three values, and every query parameter except
// the ones that change the response (tr, ik-s, ik-t) is dropped. No dependencies, no
// module syntax: CloudFront runs this file as it is.

var KEPT_QUERY_PARAMETERS = { 'tr': true, 'ik-s': true, 'ik-t': true };

// The runtime picks AVIF or WebP when Accept names it with q > 0 (the higher q, AVIF on a tie),
// else the input's format; wildcards do not count. These three values land in those branches.
var ACCEPT_AVIF = 'image/avif,image/webp';
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
  if (avif > 0 && avif >= webp) return ACCEPT_AVIF;
  if (webp > 0) return ACCEPT_WEBP;
  return ACCEPT_OTHER;
}

function handler(event) {
  var request = event.request;
  request.headers.accept = { value: acceptBucket(request.headers.accept) };

  // Keys are visited in the viewer's order, which signed URLs depend on.
  var kept = {};
  var query = request.querystring || {};
  for (var name in query) {
    if (KEPT_QUERY_PARAMETERS[name] === true) kept[name] = query[name];
  }
  request.querystring = kept;
  return request;
}
