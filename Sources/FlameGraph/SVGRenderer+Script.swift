extension SVGRenderer {
    /// The graph's style sheet after the font rules (inside CDATA).
    static let style: StaticString = """
        #subtitle { text-anchor: middle; fill: rgb(160,160,160); }
        #search, #ignorecase { opacity: 0.1; cursor: pointer; }
        #search { text-anchor: end; }
        #ignorecase { text-anchor: end; }
        #search:hover, #search.show, #ignorecase:hover, #ignorecase.show { opacity: 1; }
        #unzoom { cursor: pointer; }
        #matched { text-anchor: end; }
        #frames > g:hover > rect { stroke: rgb(0,0,0); stroke-width: 0.5; }
        #frames > g { cursor: pointer; }
        #frames text { pointer-events: none; }
        .hide { display: none; }
        .parent { opacity: 0.5; }

        """

    /// The graph's behaviour (inside CDATA, after `var fgConfig = {...};`): hover details,
    /// click to zoom, Reset Zoom, regular-expression search with the matched share,
    /// Ctrl-F / F3 to search, Ctrl-I to toggle case, Escape to undo, and the URL parameters
    /// `s` (search) and `f` (zoom to the frame whose title starts with it).
    static let script: StaticString = """
        "use strict";
        var fgFrames, fgNodes = [], fgDetails, fgUnzoom, fgSearch, fgIgnoreCase, fgMatched;
        var fgZoomed = null, fgSearchTerm = null, fgCaseless = false;

        function init(evt) {
            fgFrames = document.getElementById("frames");
            fgDetails = document.getElementById("details").firstChild;
            fgUnzoom = document.getElementById("unzoom");
            fgSearch = document.getElementById("search");
            fgIgnoreCase = document.getElementById("ignorecase");
            fgMatched = document.getElementById("matched");
            var groups = fgFrames.children;
            for (var i = 0; i < groups.length; i++) {
                var g = groups[i], rect = g.getElementsByTagName("rect")[0];
                var title = g.getElementsByTagName("title")[0].textContent;
                var cut = title.lastIndexOf(" (");
                var text = g.getElementsByTagName("text")[0] || null;
                var y = parseFloat(rect.getAttribute("y"));
                g.fgIndex = i;
                fgNodes.push({
                    g: g, rect: rect, text: text, title: title,
                    name: cut >= 0 ? title.substring(0, cut) : title,
                    x: parseFloat(rect.getAttribute("fg:x")), w: parseFloat(rect.getAttribute("fg:w")),
                    depth: Math.round(Math.abs(y - fgConfig.rootY) / fgConfig.frameHeight),
                    x0: rect.getAttribute("x"), w0: rect.getAttribute("width"),
                    label0: text ? text.textContent : "", tx0: text ? text.getAttribute("x") : null,
                    fill: rect.getAttribute("fill"), matched: false
                });
            }
            fgFrames.addEventListener("click", function (e) {
                var node = fgNodeOf(e.target);
                if (node) fgZoom(node);
            });
            fgFrames.addEventListener("mouseover", function (e) {
                var node = fgNodeOf(e.target);
                if (node) fgDetails.nodeValue = fgConfig.nameType + " " + node.title;
            });
            fgFrames.addEventListener("mouseout", function () { fgDetails.nodeValue = " "; });
            fgUnzoom.addEventListener("click", function () { fgReset(); });
            fgSearch.addEventListener("click", function () {
                if (fgSearchTerm === null) fgSearchPrompt(); else fgResetSearch();
            });
            fgIgnoreCase.addEventListener("click", fgToggleCase);
            window.addEventListener("keydown", function (e) {
                var key = (e.key || "").toLowerCase();
                if (e.keyCode === 114 || ((e.ctrlKey || e.metaKey) && key === "f")) {
                    e.preventDefault();
                    fgSearchPrompt();
                } else if ((e.ctrlKey || e.metaKey) && key === "i") {
                    e.preventDefault();
                    fgToggleCase();
                } else if (key === "escape") {
                    if (fgZoomed) fgReset(); else if (fgSearchTerm !== null) fgResetSearch();
                }
            });
            var params = fgParams();
            if (params.f) {
                for (var j = 0; j < fgNodes.length; j++) {
                    if (fgNodes[j].title.indexOf(params.f) === 0) { fgZoom(fgNodes[j]); break; }
                }
            }
            if (params.s) search(params.s);
            document.documentElement.setAttribute("fg:ready", "true");
        }

        function fgParams() {
            var result = {}, query = (window.location && window.location.search) || "";
            query.replace(/^\\?/, "").split("&").forEach(function (pair) {
                var at = pair.indexOf("=");
                if (at > 0) {
                    try { result[pair.substring(0, at)] = decodeURIComponent(pair.substring(at + 1).replace(/\\+/g, " ")); }
                    catch (e) { }
                }
            });
            return result;
        }

        function fgNodeOf(element) {
            while (element && element !== fgFrames) {
                if (element.parentNode === fgFrames) return fgNodes[element.fgIndex];
                element = element.parentNode;
            }
            return null;
        }

        // Draws a frame at x with width w (pixels), its label cut to fit.
        function fgPlace(node, x, w) {
            node.rect.setAttribute("x", x.toFixed(2));
            node.rect.setAttribute("width", w.toFixed(2));
            var fits = Math.floor((w - 3) / (fgConfig.fontSize * fgConfig.fontWidth));
            var label = "";
            if (fits >= 3) {
                var chars = Array.from(node.name);
                label = chars.length <= fits ? node.name : chars.slice(0, fits - 2).join("") + "..";
            }
            if (!node.text) {
                if (!label) return;
                node.text = document.createElementNS("http://www.w3.org/2000/svg", "text");
                var rectY = parseFloat(node.rect.getAttribute("y"));
                var textY = rectY + (fgConfig.frameHeight - 1) / 2 + fgConfig.fontSize / 4 + 0.5;
                node.text.setAttribute("y", textY.toFixed(2));
                node.g.appendChild(node.text);
            }
            node.text.setAttribute("x", (x + 3).toFixed(2));
            node.text.textContent = label;
        }

        // Zooms into a frame: it and everything above it fill the width; its ancestors
        // stay (faded, full width); everything else hides.
        function fgZoom(target) {
            fgZoomed = target;
            fgUnzoom.classList.remove("hide");
            var span = fgConfig.width - 2 * fgConfig.xpad;
            var ratio = span / Math.max(target.w, 1e-300);
            var slack = Math.max(target.w, fgConfig.total) * 1e-9;
            var left = target.x, right = target.x + target.w;
            for (var i = 0; i < fgNodes.length; i++) {
                var node = fgNodes[i], g = node.g;
                if (node.depth < target.depth) {
                    if (node.x <= left + slack && node.x + node.w >= right - slack) {
                        g.classList.remove("hide");
                        g.classList.add("parent");
                        fgPlace(node, fgConfig.xpad, span);
                    } else {
                        g.classList.add("hide");
                    }
                } else if (node.x >= left - slack && node.x + node.w <= right + slack && !(node.w === 0 && node.x >= right && node !== target)) {
                    g.classList.remove("hide");
                    g.classList.remove("parent");
                    fgPlace(node, fgConfig.xpad + (node.x - left) * ratio, node.w * ratio);
                } else {
                    g.classList.add("hide");
                }
            }
        }

        // Back to the whole graph.
        function fgReset() {
            fgZoomed = null;
            fgUnzoom.classList.add("hide");
            for (var i = 0; i < fgNodes.length; i++) {
                var node = fgNodes[i];
                node.g.classList.remove("hide");
                node.g.classList.remove("parent");
                node.rect.setAttribute("x", node.x0);
                node.rect.setAttribute("width", node.w0);
                if (node.text) {
                    if (node.tx0 !== null) node.text.setAttribute("x", node.tx0);
                    node.text.textContent = node.label0;
                }
            }
        }

        function fgSearchPrompt() {
            var term = prompt("Search frames for (a regular expression" + (fgCaseless ? ", ignoring case" : "") +
                "; Ctrl-I toggles case):", fgSearchTerm === null ? "" : fgSearchTerm);
            if (term === null) return;
            if (term === "") fgResetSearch(); else search(term);
        }

        function fgToggleCase() {
            fgCaseless = !fgCaseless;
            if (fgCaseless) fgIgnoreCase.classList.add("show"); else fgIgnoreCase.classList.remove("show");
            if (fgSearchTerm !== null) search(fgSearchTerm);
        }

        // Highlights the frames whose names match the regular expression `term` and shows the
        // share of all samples under them (nested matches counted once). Returns the
        // percentage, or -1 for an invalid expression.
        function search(term) {
            var pattern;
            try { pattern = new RegExp(term, fgCaseless ? "i" : ""); }
            catch (e) {
                fgMatched.firstChild.nodeValue = "Invalid regular expression";
                return -1;
            }
            fgSearchTerm = term;
            var hits = [];
            for (var i = 0; i < fgNodes.length; i++) {
                var node = fgNodes[i];
                if (pattern.test(node.name)) {
                    node.rect.setAttribute("fill", fgConfig.searchColor);
                    node.matched = true;
                    hits.push(node);
                } else if (node.matched) {
                    node.rect.setAttribute("fill", node.fill);
                    node.matched = false;
                }
            }
            hits.sort(function (a, b) { return a.x - b.x || b.w - a.w; });
            var covered = 0, end = -Infinity;
            for (var j = 0; j < hits.length; j++) {
                var from = Math.max(hits[j].x, end), to = hits[j].x + hits[j].w;
                if (to > from) { covered += to - from; end = to; }
            }
            var percent = fgConfig.total > 0 ? 100 * covered / fgConfig.total : 0;
            fgSearch.classList.add("show");
            fgSearch.firstChild.nodeValue = "Reset Search";
            fgMatched.firstChild.nodeValue = "Matched: " + percent.toFixed(2) + "% (" + hits.length + " frames)";
            return percent;
        }

        function fgResetSearch() {
            fgSearchTerm = null;
            for (var i = 0; i < fgNodes.length; i++) {
                var node = fgNodes[i];
                if (node.matched) {
                    node.rect.setAttribute("fill", node.fill);
                    node.matched = false;
                }
            }
            fgSearch.classList.remove("show");
            fgSearch.firstChild.nodeValue = "Search";
            fgMatched.firstChild.nodeValue = " ";
        }

        """
}
