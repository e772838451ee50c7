/* Kizuki extras: embedded forms, popups and personalized slots. Never throws. */
(function (w, d) {
  "use strict";
  function start(k) {
    try {
      var SESSION = "_kz_last";
      var now = Date.now(), last = 0;
      try { last = parseInt(w.sessionStorage.getItem(SESSION) || "0", 10); w.sessionStorage.setItem(SESSION, String(now)); } catch (e) {}
      var newVisit = !last || now - last >= 30 * 60 * 1000;

      function post(path, data) {
        return fetch(k.endpoint + path, { method: "POST", mode: "cors", body: JSON.stringify(data), headers: { "Content-Type": "text/plain" } });
      }
      function wireForm(box) {
        var form = box.querySelector("form");
        if (!form) return;
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var body = new FormData(form);
          body.set("embed", "1");
          fetch(form.getAttribute("action").indexOf("http") === 0 ? form.action : k.endpoint + form.getAttribute("action"), { method: "POST", mode: "cors", body: body })
            .then(function (r) { return r.text(); })
            .then(function (html) {
              box.innerHTML = html; wireForm(box);
              if (box.querySelector(".kz-form-thanks") && box.__kzPopup) post("/t/popup", { site: k.site, visitor: k.visitor, popup: box.__kzPopup, action: "converted" });
            })
            .catch(function () {});
        });
      }
      var forms = d.querySelectorAll("[data-kizuki-form]");
      for (var i = 0; i < forms.length; i++) (function (box) {
        var key = box.getAttribute("data-kizuki-form");
        var q = "?embed=1&s=" + encodeURIComponent(k.site) + "&v=" + encodeURIComponent(k.visitor) + "&u=" + encodeURIComponent(location.href);
        fetch(k.endpoint + "/f/" + encodeURIComponent(key) + "/" + q, { mode: "cors" })
          .then(function (r) { return r.text(); })
          .then(function (html) { box.innerHTML = html; wireForm(box); })
          .catch(function () {});
      })(forms[i]);

      var slotEls = d.querySelectorAll("[data-kizuki-slot]"), names = [];
      for (var j = 0; j < slotEls.length; j++) names.push(slotEls[j].getAttribute("data-kizuki-slot"));
      post("/t/decide", { site: k.site, visitor: k.visitor, nv: newVisit, url: location.href, slots: names })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          for (var n = 0; n < slotEls.length; n++) {
            var html = answer.slots && answer.slots[slotEls[n].getAttribute("data-kizuki-slot")];
            if (html) slotEls[n].innerHTML = html;
          }
          if (answer.popup) showPopup(answer.popup);
        })
        .catch(function () {});

      function showPopup(p) {
        var overlay = d.createElement("div");
        overlay.className = "kz-popup";
        overlay.setAttribute("style", "position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483000");
        overlay.innerHTML = p.html;
        var box = overlay.firstElementChild || overlay;
        box.setAttribute("style", "background:#fff;max-width:520px;width:92%;padding:1.5rem;border-radius:8px;position:relative;max-height:90vh;overflow:auto");
        var formBox = overlay.querySelector(".kz-form");
        if (formBox) { formBox.__kzPopup = p.id; wireForm(formBox); }
        overlay.addEventListener("click", function (e) {
          var t = e.target;
          if (t === overlay || (t.hasAttribute && t.hasAttribute("data-kizuki-close"))) {
            overlay.parentNode && overlay.parentNode.removeChild(overlay);
            post("/t/popup", { site: k.site, visitor: k.visitor, popup: p.id, action: "closed" });
          } else if (t.hasAttribute && t.hasAttribute("data-kizuki-convert")) {
            post("/t/popup", { site: k.site, visitor: k.visitor, popup: p.id, action: "converted" });
          }
        });
        d.body.appendChild(overlay);
      }
    } catch (e) {}
  }
  if (w.__kizuki) start(w.__kizuki); else w.__kizukiReady = start;
})(window, document);
