// CloudFront Function (cloudfront-js-2.0, viewer request). It keeps the cache key small:
// the Accept header is reduced to one of three values, and every query parameter except
// the ones that change the response (tr, ik-s, ik-t) is dropped. No dependencies, no
// module syntax: CloudFront runs this file as it is.

var KEPT_QUERY_PARAMETERS = { 'tr': true, 'ik-s': true, 'ik-t': true };

// The runtime picks AVIF when Accept contains "image/avif", else WebP when it contains
// "image/webp", else the input's format; these three values land in those three branches.
var ACCEPT_AVIF = 'image/avif,image/webp';
var ACCEPT_WEBP = 'image/webp';
var ACCEPT_OTHER = 'image/*';

function acceptBucket(header) {
  if (!header) return ACCEPT_OTHER;
  var text = header.value || '';
  if (header.multiValue) {
    text = header.multiValue.map(function (v) { return v.value; }).join(',');
  }
  text = text.toLowerCase();
  if (text.indexOf('image/avif') !== -1) return ACCEPT_AVIF;
  if (text.indexOf('image/webp') !== -1) return ACCEPT_WEBP;
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
