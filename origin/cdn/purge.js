// The purge-secret check for the reference nginx edge (DESIGN §11), in njs
// (Debian's libnginx-mod-http-js): after a takedown the origin sends PURGE
// for each changed URL with the secret in Roomcast-Purge-Secret. Runs only
// for PURGE requests (nginx.conf's purge location), so a GET never reads
// the secret file.
//
//   js_var $rc_purge_secret_file /etc/roomcast/purge-secret;
//   js_import purge from purge.js;
//   js_set $rc_purge purge.verdict;   # "ok" or "403"
var fs = require('fs');
var crypto = require('crypto');

function secret(r) {
  try {
    return fs.readFileSync(r.variables.rc_purge_secret_file, 'utf8').replace(/[\r\n]+$/, '');
  } catch (e) {
    return '';
  }
}

// The two secrets are compared by their HMACs: the comparison's time then
// says nothing about how much of a guess was right.
function verdict(r) {
  var key = secret(r);
  var got = r.headersIn['Roomcast-Purge-Secret'];
  if (key === '' || got === undefined || got === '') return '403';
  var h = function (x) { return crypto.createHmac('sha256', key).update(x).digest('hex'); };
  return h(got) === h(key) ? 'ok' : '403';
}

export default {verdict: verdict};
