// User and Group Sync console: small enhancements. Every page works
// without this script.
(function () {
	"use strict";

	function ready(fn) {
		if (document.readyState === "loading") {
			document.addEventListener("DOMContentLoaded", fn);
		} else {
			fn();
		}
	}

	function copyText(text, button) {
		var done = function () {
			var label = button.textContent;
			button.textContent = "Copied";
			setTimeout(function () { button.textContent = label; }, 1500);
		};
		if (navigator.clipboard && window.isSecureContext) {
			navigator.clipboard.writeText(text).then(done, function () {});
			return;
		}
		var area = document.createElement("textarea");
		area.value = text;
		area.setAttribute("readonly", "");
		area.className = "visually-hidden";
		document.body.appendChild(area);
		area.select();
		try {
			document.execCommand("copy");
			done();
		} catch (e) {
			// Nothing to do: the field stays selectable.
		}
		document.body.removeChild(area);
	}

	// Copy buttons: data-copy names the field whose value they copy.
	function copyButtons() {
		document.querySelectorAll("[data-copy]").forEach(function (button) {
			var field = document.getElementById(button.getAttribute("data-copy"));
			if (!field) {
				return;
			}
			button.hidden = false;
			button.setAttribute("aria-label", "Copy " + (field.labels && field.labels[0] ? field.labels[0].textContent : ""));
			button.addEventListener("click", function () {
				copyText(field.value, button);
			});
		});
	}

	// The credentials download is built from the page that shows them:
	// no further request is made.
	function download() {
		var button = document.getElementById("download");
		var box = document.getElementById("credentials");
		if (!button || !box || !window.Blob || !window.URL) {
			return;
		}
		button.hidden = false;
		button.addEventListener("click", function () {
			var url = document.getElementById("tenant-url").value;
			var token = document.getElementById("token").value;
			var expires = document.getElementById("expires");
			var text = "Tenant URL: " + url + "\r\n" +
				"Token: " + token + "\r\n" +
				"Token expiry: " + (expires.getAttribute("data-iso") || expires.value) + "\r\n";
			var blob = new Blob([text], { type: "text/plain;charset=utf-8" });
			var href = URL.createObjectURL(blob);
			var a = document.createElement("a");
			a.href = href;
			a.download = box.getAttribute("data-filename") || "scim-credentials.txt";
			document.body.appendChild(a);
			a.click();
			document.body.removeChild(a);
			setTimeout(function () { URL.revokeObjectURL(href); }, 1000);
		});
	}

	// Forms with data-confirm ask before they are sent.
	function confirms() {
		document.querySelectorAll("form[data-confirm]").forEach(function (form) {
			form.addEventListener("submit", function (event) {
				if (!window.confirm(form.getAttribute("data-confirm"))) {
					event.preventDefault();
				}
			});
		});
	}

	// The connection check refreshes itself every few seconds while the
	// box is ticked and the page is visible.
	function refresh() {
		var section = document.querySelector("[data-refresh]");
		if (!section || !window.fetch || !window.DOMParser) {
			return;
		}
		var url = section.getAttribute("data-refresh");
		var form = section.querySelector("form.refresh");
		var label = document.createElement("label");
		label.className = "refresh-auto";
		var box = document.createElement("input");
		box.type = "checkbox";
		box.id = "refresh-auto";
		label.appendChild(box);
		label.appendChild(document.createTextNode(" Refresh every 5 seconds"));
		if (form) {
			form.appendChild(label);
		}
		var started = 0;
		function tick() {
			if (!box.checked || document.hidden) {
				return;
			}
			if (Date.now() - started > 15 * 60 * 1000) {
				box.checked = false;
				return;
			}
			fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
				.then(function (res) { return res.ok ? res.text() : null; })
				.then(function (html) {
					if (!html) {
						return;
					}
					var doc = new DOMParser().parseFromString(html, "text/html");
					var fresh = doc.getElementById("connection-body");
					var old = document.getElementById("connection-body");
					if (fresh && old) {
						old.replaceWith(document.importNode(fresh, true));
					}
				})
				.catch(function () {});
		}
		box.addEventListener("change", function () {
			if (box.checked) {
				started = Date.now();
				tick();
			}
		});
		setInterval(tick, 5000);
	}

	// A sign-in link's secret leaves the address bar once the page shows.
	function hideLink() {
		if (window.history && history.replaceState && /[?&]link=/.test(location.search)) {
			var form = document.querySelector("input[name=link]");
			if (form) {
				history.replaceState(null, "", location.pathname);
			}
		}
	}

	ready(function () {
		copyButtons();
		download();
		confirms();
		refresh();
		hideLink();
	});
})();
