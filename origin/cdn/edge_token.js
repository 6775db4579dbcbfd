// Edge-token check for the reference nginx edge (DESIGN §12), in njs
// (Debian's libnginx-mod-http-js). Runs before the cache lookup, so every
// entitled viewer shares one cached object and no request without a valid
// token reaches the cache or the origin. The same rules as
// auth/edge_token.cc:
//   exp=<unix s>~acl=/v1/private/<room>/*~hmac=<64 lowercase hex>
// the HMAC-SHA256 (edge secret) of the text before "~hmac=", in one
// spelling only; `acl` is a private room's "/*" prefix (it ends in "/", so
// .../ab/* never covers .../abc/) or one exact path.
//
//   js_var $rc_edge_secret_file /etc/roomcast/edge-secret;
//   js_import edge from edge_token.js;
//   js_set $rc_edge edge.verdict;   # "ok", "401" or "403"
//   js_set $rc_edge_token edge.token;
var fs = require('fs');
var crypto = require('crypto');
var TOKEN = /^exp=([1-9][0-9]{0,10})~acl=(\/v1\/private\/([A-Za-z0-9_-]{1,64})\/([^~!*%?#]+|\*))~hmac=([0-9a-f]{64})$/;

function secret(r) {
  try {
    return fs.readFileSync(r.variables.rc_edge_secret_file, 'utf8').replace(/[\r\n]+$/, '');
  } catch (e) {
    return '';
  }
}

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    return s;  // an encoding that does not decode fails to verify
  }
}

// The token the request carries: rc_token= (decoded) or the rc_token cookie.
function token(r) {
  var q = r.args.rc_token;
  if (Array.isArray(q)) q = q[0];
  if (q !== undefined && q !== '') return q;
  var c = r.variables.cookie_rc_token;
  if (c) return decode(c.replace(/^"|"$/g, ''));
  return '';
}

// Compares two hex MACs by their own HMACs: the time the comparison takes
// then says nothing about how much of a forgery was right.
function sameMac(key, a, b) {
  var h = function (x) { return crypto.createHmac('sha256', key).update(x).digest('hex'); };
  return h(a) === h(b);
}

function verdict(r) {
  var t = token(r);
  if (t === '') return '401';
  var key = secret(r);
  var m = TOKEN.exec(t);
  if (key === '' || !m) return '403';
  var signed = t.slice(0, t.lastIndexOf('~hmac='));
  var want = crypto.createHmac('sha256', key).update(signed).digest('hex');
  if (!sameMac(key, want, m[5])) return '403';
  if (Math.floor(Date.now() / 1000) >= Number(m[1])) return '403';
  var path = r.uri;
  var acl = m[2];
  var covers = m[4] === '*' ? path.indexOf(acl.slice(0, -1)) === 0 : path === acl;
  return covers ? 'ok' : '403';
}

export default {verdict: verdict, token: token};
