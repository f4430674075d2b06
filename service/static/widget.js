/*! recommender widget: "Related articles" and featured picks for
 *   <div data-related-article="ID"></div>
 *   <script src="https://api.example/widget.js" async></script>
 * Options (on the div): data-api (API base; default: where this script came from),
 * data-k (1-50), data-heading-level (2-6), data-related-heading, data-featured-heading,
 * data-featured-label, data-image-width and data-image-height (thumbnail size in CSS
 * pixels, 16-1024; default 160x90). No dependencies. If the API is down or answers an error,
 * nothing is rendered and nothing is logged. Items it cannot link (no url, or not
 * http(s)) are left out with one console warning saying how many and why.
 * Reports impressions and clicks to /v1/events (no cookie, no reader id).
 * See docs/widget.md. */
(function () {
  "use strict";
  // currentScript is only set while this file first runs (async included): capture it now.
  var script = document.currentScript;
  var scriptBase = script && script.src ? script.src.replace(/\/widget\.js(?:[?#].*)?$/, "") : "";
  var STYLE_ID = "rc-widget-style";
  var TIMEOUT_MS = 10000;
  var IMAGE_SIZE = { width: 160, height: 90 }; // 16:9, the usual shape of featured images
  // Zero-specificity defaults (:where), inserted first in <head>: any site rule wins.
  var CSS =
    ":where(.rc-widget){display:grid;gap:1.5rem;margin:2rem 0;font:inherit;color:inherit}" +
    ":where(.rc-heading){font-size:1.15em;margin:0 0 .6em}" +
    ":where(.rc-list){list-style:none;margin:0;padding:0;display:grid;gap:.9em}" +
    ":where(.rc-item){margin:0;padding:0 0 .9em;border-bottom:1px solid rgba(127,127,127,.3)}" +
    ":where(.rc-link){font-weight:600;color:inherit}" +
    ":where(.rc-teaser){margin:.25em 0 0;font-size:.92em;opacity:.85}" +
    ":where(.rc-label){display:block;width:max-content;font-size:.72em;font-weight:700;letter-spacing:.05em;" +
    "text-transform:uppercase;margin:0 0 .3em;padding:.1em .45em;border:1px solid currentColor;border-radius:3px}" +
    // With a thumbnail: image on the left, the item's text beside it.
    ":where(.rc-item-image){display:grid;grid-template-columns:auto minmax(0,1fr);column-gap:.8em;align-items:start}" +
    ":where(.rc-item-image>:not(.rc-thumb)){grid-column:2}" +
    ":where(.rc-thumb){grid-row:1/span 3;display:block;max-width:40vw;object-fit:cover;border-radius:3px}";
  var counter = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text; // article data is only ever text
    return node;
  }

  // Only http(s) links: a "javascript:" url in the data never becomes a link.
  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, document.baseURI);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function addStyle() {
    if (document.getElementById(STYLE_ID)) return;
    var style = el("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    var head = document.head || document.documentElement;
    head.insertBefore(style, head.firstChild);
  }

  // Why an item cannot be shown as a link, or null if it can.
  function unusable(item) {
    if (!item || typeof item.title !== "string" || !item.title) return "title";
    if (item.url === null || item.url === undefined || item.url === "") return "url";
    return safeUrl(item.url) ? null : "scheme";
  }

  // A size attribute: the container's option when it is a whole number in range.
  function imageSize(host, name) {
    var value = parseInt(host.getAttribute("data-image-" + name), 10);
    return value >= 16 && value <= 1024 ? value : IMAGE_SIZE[name];
  }

  // Fixed width and height reserve the space before the image arrives, so the page
  // does not jump; lazy loading fetches it only when it nears the viewport.
  function thumbnail(item, size) {
    var src = safeUrl(item.image);
    if (!src) return null;
    var image = el("img", "rc-thumb");
    image.setAttribute("loading", "lazy");
    image.setAttribute("decoding", "async");
    image.setAttribute("width", String(size.width));
    image.setAttribute("height", String(size.height));
    image.setAttribute("alt", item.title);
    image.src = src;
    return image;
  }

  function section(kind, heading, level, items, label, dropped, size) {
    var linked = [];
    for (var i = 0; i < items.length; i++) {
      var reason = unusable(items[i]);
      if (reason) dropped[reason]++;
      else linked.push([items[i], safeUrl(items[i].url)]);
    }
    if (!linked.length) return null;
    var id = "rc-" + kind + "-" + ++counter;
    var box = el("section", "rc-section rc-" + kind);
    box.setAttribute("aria-labelledby", id);
    var title = el("h" + level, "rc-heading", heading);
    title.id = id;
    var list = el("ul", "rc-list");
    for (var j = 0; j < linked.length; j++) {
      var image = thumbnail(linked[j][0], size);
      var entry = el("li", "rc-item" + (label ? " rc-item-featured" : "") + (image ? " rc-item-image" : ""));
      if (image) entry.appendChild(image);
      if (label) entry.appendChild(el("span", "rc-label", label));
      var link = el("a", "rc-link", linked[j][0].title);
      link.href = linked[j][1];
      entry.appendChild(link);
      if (typeof linked[j][0].summary === "string" && linked[j][0].summary) {
        entry.appendChild(el("p", "rc-teaser", linked[j][0].summary));
      }
      list.appendChild(entry);
    }
    box.appendChild(title);
    box.appendChild(list);
    return box;
  }

  // One warning per container, only when items were left out: a site whose corpus has
  // no urls would otherwise see an empty block and no reason.
  function warnDropped(id, dropped) {
    var reasons = [];
    if (dropped.url) reasons.push(dropped.url + " without a url (set RECOMMENDER_URL_TEMPLATE on the API server)");
    if (dropped.scheme) reasons.push(dropped.scheme + " whose url is not http(s)");
    if (dropped.title) reasons.push(dropped.title + " without a title");
    var count = dropped.url + dropped.scheme + dropped.title;
    if (count && window.console && console.warn) {
      console.warn("recommender widget: left out " + count + " item" + (count > 1 ? "s" : "") +
        ' for article "' + id + '": ' + reasons.join("; "));
    }
  }

  function render(host, data) {
    var level = parseInt(host.getAttribute("data-heading-level"), 10);
    if (!(level >= 2 && level <= 6)) level = 2;
    var dropped = { url: 0, scheme: 0, title: 0 };
    var size = { width: imageSize(host, "width"), height: imageSize(host, "height") };
    var related = section(
      "related",
      host.getAttribute("data-related-heading") || "Related articles",
      level,
      Array.isArray(data && data.related) ? data.related : [],
      "",
      dropped,
      size
    );
    var featured = section(
      "featured",
      host.getAttribute("data-featured-heading") || "Featured",
      level,
      Array.isArray(data && data.featured) ? data.featured : [],
      host.getAttribute("data-featured-label") || "Featured article",
      dropped,
      size
    );
    warnDropped(host.getAttribute("data-related-article"), dropped);
    if (!related && !featured) return "empty";
    addStyle();
    var root = el("div", "rc-widget");
    if (related) root.appendChild(related);
    if (featured) root.appendChild(featured);
    while (host.firstChild) host.removeChild(host.firstChild);
    host.appendChild(root);
    return "ready";
  }

  // Reader events (docs/widget.md): fire and forget. A string goes as text/plain: no preflight.
  function sendEvents(base, events) {
    var body = JSON.stringify({ events: events });
    try {
      if (navigator.sendBeacon && navigator.sendBeacon(base + "/v1/events", body)) return;
      fetch(base + "/v1/events", { method: "POST", body: body, credentials: "omit", mode: "no-cors",
        keepalive: true })["catch"](function () {});
    } catch (e) {}
  }

  // An impression per block once half visible (once per page view), a click per link followed.
  function trackEvents(host, base, source, data) {
    var variant = (typeof data.variant === "string" && data.variant) || "default";
    var pending = [];
    var observer = window.IntersectionObserver && new IntersectionObserver(function (changes) {
      var events = [];
      changes.forEach(function (change) {
        pending.forEach(function (entry) {
          if (entry[0] !== change.target || change.intersectionRatio < 0.5) return;
          observer.unobserve(entry[0]);
          events.push(entry[1]);
        });
      });
      if (events.length) sendEvents(base, events);
    }, { threshold: 0.5 });
    ["related", "featured"].forEach(function (block) {
      var box = host.querySelector("section.rc-" + block);
      var shown = (data[block] || []).filter(function (item) { return !unusable(item); });
      var event = { source: source, block: block, variant: variant };
      function followed(click) {
        var item = click.target.closest("a");
        item = click.button < 2 && item && item.closest("li");
        var at = item ? [].indexOf.call(item.parentNode.children, item) : -1;
        if (at >= 0 && at < shown.length && box.contains(item)) {
          sendEvents(base, [Object.assign({ type: "click", shown: shown[at].id, position: at + 1 }, event)]);
        }
      }
      if (!box || !shown.length) return;
      box.addEventListener("click", followed);
      box.addEventListener("auxclick", followed); // middle click
      if (!observer) return;
      pending.push([box, Object.assign({ type: "impression", items: shown.map(function (item, i) {
        return { shown: item.id, position: i + 1 };
      }) }, event)]);
      observer.observe(box);
    });
  }

  // The reader's A/B bucket (0-9999), one per browser tab: kept in sessionStorage,
  // never in a cookie, so the tab sees one variant of a running test throughout.
  function bucket() {
    var key = "rc-bucket";
    var value = NaN;
    try {
      value = parseInt(window.sessionStorage.getItem(key), 10);
    } catch (e) { /* storage refused (privacy modes): a bucket per page view */ }
    if (!(value >= 0 && value < 10000)) {
      value = Math.floor(Math.random() * 10000);
      try { window.sessionStorage.setItem(key, String(value)); } catch (e) { /* as above */ }
    }
    return value;
  }

  function load(host) {
    if (host.getAttribute("data-rc-state")) return; // already done (or under way)
    host.setAttribute("data-rc-state", "loading");
    var id = host.getAttribute("data-related-article");
    var base = (host.getAttribute("data-api") || scriptBase).replace(/\/+$/, "");
    var k = parseInt(host.getAttribute("data-k"), 10);
    if (!id || !base || !window.fetch) {
      host.setAttribute("data-rc-state", "error");
      return;
    }
    var url = base + "/v1/articles/" + encodeURIComponent(id) + "/recommendations";
    url += "?bucket=" + bucket();
    if (k >= 1 && k <= 50) url += "&k=" + k;
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : 0;
    fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "omit",
      signal: controller ? controller.signal : undefined
    })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        var state = render(host, data);
        host.setAttribute("data-rc-state", state);
        try {
          if (state === "ready") trackEvents(host, base, id, data);
        } catch (e) {}
      })
      ["catch"](function () {
        // A down or failing API must not disturb the page: render nothing, log nothing.
        host.setAttribute("data-rc-state", "error");
      })
      .then(function () {
        clearTimeout(timer);
      });
  }

  function scan() {
    var hosts = document.querySelectorAll("[data-related-article]");
    for (var i = 0; i < hosts.length; i++) load(hosts[i]);
  }

  // For pages that add containers later (e.g. infinite scroll): RecommenderWidget.scan().
  window.RecommenderWidget = { scan: scan };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
