/* TeX in titles and abstracts ($...$, wrapped in <span class="math"> by the server) typeset with the
   vendored KaTeX. KaTeX is fetched only on pages that have math, and builds its output through the DOM
   (no inline script or style markup, so the Content-Security-Policy holds). The raw TeX stays as the
   text when a formula does not parse. */
(function () {
  "use strict";
  function typeset(root) {
    var spans = (root || document).querySelectorAll("span.math:not([data-typeset])");
    if (!spans.length || !window.katex) { return; }
    Array.prototype.forEach.call(spans, function (span) {
      var tex = span.textContent;
      span.setAttribute("data-typeset", "");
      try {
        window.katex.render(tex, span, { throwOnError: true, displayMode: false, output: "htmlAndMathml" });
        span.setAttribute("title", tex);
      } catch (error) {
        span.textContent = tex;
      }
    });
  }

  var loading = false;

  function load() {
    if (!document.querySelector("span.math:not([data-typeset])")) { return; }
    if (window.katex) { typeset(document); return; }
    if (loading) { return; }  // the script's onload typesets everything there is by then
    loading = true;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/static/katex/katex.min.css";
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = "/static/katex/katex.min.js";
    script.onload = function () { typeset(document); };
    document.head.appendChild(script);
  }

  // Fragments htmx swaps in later (similar papers) may carry math too.
  document.addEventListener("htmx:afterSwap", load);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", load);
  } else {
    load();
  }
}());
