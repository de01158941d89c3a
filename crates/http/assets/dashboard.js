// poigate dashboard: refreshes the regions marked data-poll with their HTML fragment.
// Everything else is plain HTML forms. (The merchant-wide event stream of issue 16 would
// replace this timer: refresh a region when an event about it arrives.)
(function () {
  "use strict";
  var PERIOD_MS = 1000;
  function refresh(el) {
    var url = el.getAttribute("data-poll");
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Poigate-Fragment": "1" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === el.innerHTML) return;
        // Keep keyboard focus where it was when the region is replaced.
        var focused = document.activeElement && el.contains(document.activeElement)
          ? document.activeElement.id : null;
        el.innerHTML = html;
        if (focused) { var again = document.getElementById(focused); if (again) again.focus(); }
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }
  function tick() {
    var regions = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < regions.length; i++) refresh(regions[i]);
  }
  setInterval(tick, PERIOD_MS);
})();
