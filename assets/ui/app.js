// dagtrail's run explorer: the one script of the pages, and none of them
// needs it. It shows times in the reader's time zone and locale (the page
// says UTC; the UTC text stays on hover) and adds a "copy" button beside
// each copyable link.
"use strict";
(function () {
  var lang = document.documentElement.lang || undefined;
  var format = new Intl.DateTimeFormat(lang, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (isNaN(when.getTime()) || el.dataset.kind === "date") return;
    el.title = el.textContent.trim();
    el.textContent = format.format(when);
  });
  document.querySelectorAll("a.permalink").forEach(function (a) {
    if (!navigator.clipboard) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    var label = a.dataset.copy || "Copy";
    button.textContent = label;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(a.href).then(function () {
        button.textContent = a.dataset.copied || "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
    a.after(button);
  });
})();
