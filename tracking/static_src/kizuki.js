/* Kizuki tracking snippet. Never throws into the host page. */
(function (w, d) {
  "use strict";
  try {
    if (w.__kizuki) return;
    var script = d.currentScript || d.querySelector("script[data-kizuki-site]");
    var site = script && script.getAttribute("data-kizuki-site");
    var endpoint = "__ENDPOINT__";
    var respectDnt = __RESPECT_DNT__;
    if (!site) return;
    if (respectDnt && (navigator.doNotTrack === "1" || w.doNotTrack === "1" || navigator.globalPrivacyControl)) return;

    var KEY = "_kz_vid";
    function uuid() {
      if (w.crypto && crypto.randomUUID) return crypto.randomUUID();
      return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
        var r = (Math.random() * 16) | 0;
        return (c === "x" ? r : (r & 3) | 8).toString(16);
      });
    }
    function readCookie() {
      var m = d.cookie.match(/(?:^|; )_kz_vid=([A-Za-z0-9_-]{1,64})/);
      return m && m[1];
    }
    function store(id) {
      try { d.cookie = KEY + "=" + id + "; path=/; max-age=63072000; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : ""); } catch (e) {}
      try { w.localStorage.setItem(KEY, id); } catch (e) {}
      return id;
    }
    function visitorId() {
      var id = readCookie();
      if (!id) { try { id = w.localStorage.getItem(KEY); } catch (e) {} }
      if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) id = uuid();
      return store(id);
    }
    var visitor = visitorId();

    function send(events) {
      var body = JSON.stringify({ site: site, visitor: visitor, events: events });
      try {
        if (navigator.sendBeacon && navigator.sendBeacon(endpoint + "/t/collect", new Blob([body], { type: "text/plain" }))) return;
      } catch (e) {}
      try { fetch(endpoint + "/t/collect", { method: "POST", body: body, keepalive: true, mode: "cors", headers: { "Content-Type": "text/plain" } }); } catch (e) {}
    }
    function event(type, url, props, title) {
      return { id: uuid(), type: type, url: url, title: title || "", referrer: d.referrer || "", ts: Date.now(), props: props || {} };
    }
    function utm() {
      var out = {}, q = location.search.slice(1).split("&");
      for (var i = 0; i < q.length; i++) {
        var kv = q[i].split("="), k = decodeURIComponent(kv[0] || "");
        if (/^utm_(source|medium|campaign|term|content)$/.test(k)) out[k] = decodeURIComponent((kv[1] || "").replace(/\+/g, " "));
      }
      return out;
    }
    var DOWNLOAD = /\.(pdf|zip|docx?|xlsx?|pptx?|csv|txt)(\?|#|$)/i;
    d.addEventListener("click", function (e) {
      try {
        var a = e.target && e.target.closest && e.target.closest("a[href]");
        if (!a) return;
        var url = a.href;
        if (DOWNLOAD.test(url)) send([event("download", url, { text: (a.textContent || "").slice(0, 100) })]);
        else if (a.hostname && a.hostname !== location.hostname && /^https?:/.test(url)) send([event("outbound_click", url)]);
      } catch (err) {}
    }, true);

    function pageView() { send([event("page_view", location.href, utm(), d.title)]); }
    w.__kizuki = { site: site, visitor: visitor, endpoint: endpoint, send: send, event: event, pageView: pageView };
    pageView();
    if (w.__kizukiReady) { try { w.__kizukiReady(w.__kizuki); } catch (e) {} }
    var x = d.createElement("script"); x.async = true; x.src = endpoint + "/t/x.js"; (d.head || d.documentElement).appendChild(x);
  } catch (e) {}
})(window, document);
