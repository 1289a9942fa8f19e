// The tracking page: follows an order's live stream and draws its route to scale (Web Mercator).
// Everything it loads comes from the server that served it; map tiles only when one is configured.
(function () {
  "use strict";

  var EARTH_RADIUS_KM = 6371.0088; // the same mean radius as the API's trip summary
  var TILE_SIZE = 256;
  var RETRY_MS = 3000;

  var root = document.getElementById("tracker");
  var orderId = root.dataset.orderId;
  var tileUrl = root.dataset.tileUrl;
  var token = new URLSearchParams(window.location.search).get("token");
  var canvas = document.getElementById("route");
  var tilesLayer = document.getElementById("tiles");
  var points = [];       // reports sorted by (timestamp, msg_id)
  var seen = new Set();  // deliverer_id/msg_id of every report drawn: a resent one is drawn once
  var lastEventId = "0"; // the page replays the order's stored reports from the first
  var source = null;
  var ended = false;
  var tileKey = "";

  function withToken(path, extra) {
    var params = new URLSearchParams(extra || {});
    if (token) { params.set("token", token); }
    var query = params.toString();
    return path + (query ? "?" + query : "");
  }

  function text(id, value) { document.getElementById(id).textContent = value; }

  function status(state, message) {
    var element = document.getElementById("connection");
    element.dataset.state = state;
    element.textContent = message;
  }

  ["gpx", "geojson", "csv"].forEach(function (kind) {
    document.getElementById(kind).href = withToken("/v1/orders/" + encodeURIComponent(orderId) + "/track." + kind);
  });
  if (root.dataset.tileAttribution) { text("attribution", root.dataset.tileAttribution); }

  function before(a, b) {
    if (a.timestamp !== b.timestamp) { return a.timestamp < b.timestamp; }
    return a.msg_id < b.msg_id;
  }

  function add(report) {
    var key = report.deliverer_id + "/" + report.msg_id;
    if (seen.has(key)) { return; }
    seen.add(key);
    var i = points.length;
    while (i > 0 && before(report, points[i - 1])) { i -= 1; }
    points.splice(i, 0, report);
  }

  function haversineKm(a, b) {
    var rad = Math.PI / 180;
    var dPhi = (b.latitude - a.latitude) * rad;
    var dLambda = (b.longitude - a.longitude) * rad;
    var h = Math.pow(Math.sin(dPhi / 2), 2) +
      Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.pow(Math.sin(dLambda / 2), 2);
    return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function duration(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + (s % 60) + " s";
  }

  function showFacts() {
    var last = points[points.length - 1];
    var km = 0;
    for (var i = 1; i < points.length; i += 1) { km += haversineKm(points[i - 1], points[i]); }
    text("state", last.delivery_state.replace(/_/g, " "));
    text("speed", last.speed_kmh === undefined ? "–" : last.speed_kmh.toFixed(1) + " km/h");
    text("distance", km < 1 ? Math.round(km * 1000) + " m" : km.toFixed(2) + " km");
    text("duration", duration((Date.parse(last.timestamp) - Date.parse(points[0].timestamp)) / 1000));
    text("points", String(points.length));
    var updated = document.getElementById("updated");
    updated.textContent = new Date(last.timestamp).toLocaleTimeString();
    updated.dataset.timestamp = last.timestamp;
    root.dataset.distanceKm = km.toFixed(4);
  }

  // Web Mercator: longitude and latitude to "world" pixels at zoom 0 (a 256 x 256 square).
  function world(report) {
    var sin = Math.sin(report.latitude * Math.PI / 180);
    sin = Math.min(Math.max(sin, -0.9999), 0.9999);
    return {
      x: TILE_SIZE * (0.5 + report.longitude / 360),
      y: TILE_SIZE * (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI))
    };
  }

  function view(width, height) {
    var xs = points.map(function (p) { return world(p).x; });
    var ys = points.map(function (p) { return world(p).y; });
    var minX = Math.min.apply(null, xs), maxX = Math.max.apply(null, xs);
    var minY = Math.min.apply(null, ys), maxY = Math.max.apply(null, ys);
    var fit = Math.min(width / Math.max(maxX - minX, 1e-9), height / Math.max(maxY - minY, 1e-9)) * 0.8;
    // Whole zoom levels, so that tiles (when configured) line up with the route.
    var zoom = Math.max(1, Math.min(18, Math.floor(Math.log2(fit))));
    return { zoom: zoom, scale: Math.pow(2, zoom), cx: (minX + maxX) / 2, cy: (minY + maxY) / 2 };
  }

  function drawTiles(v, width, height) {
    if (!tileUrl) { return; }
    var left = v.cx * v.scale - width / 2, top = v.cy * v.scale - height / 2;
    var key = [v.zoom, Math.round(left), Math.round(top), width, height].join(",");
    if (key === tileKey) { return; }
    tileKey = key;
    tilesLayer.replaceChildren();
    var count = Math.pow(2, v.zoom);
    for (var tx = Math.floor(left / TILE_SIZE); tx <= Math.floor((left + width) / TILE_SIZE); tx += 1) {
      for (var ty = Math.floor(top / TILE_SIZE); ty <= Math.floor((top + height) / TILE_SIZE); ty += 1) {
        if (ty < 0 || ty >= count) { continue; }
        var image = document.createElement("img");
        image.alt = "";
        image.src = tileUrl.replace("{z}", v.zoom).replace("{x}", ((tx % count) + count) % count).replace("{y}", ty);
        image.style.left = (tx * TILE_SIZE - left) + "px";
        image.style.top = (ty * TILE_SIZE - top) + "px";
        tilesLayer.appendChild(image);
      }
    }
  }

  function drawScale(v, width) {
    var latitude = 2 * Math.atan(Math.exp(Math.PI * (1 - 2 * v.cy / TILE_SIZE))) * 180 / Math.PI - 90;
    var metresPerPixel = 40075016.686 * Math.cos(latitude * Math.PI / 180) / (TILE_SIZE * v.scale);
    var longest = Math.min(120, width / 3) * metresPerPixel;
    var nice = Math.pow(10, Math.floor(Math.log10(longest)));
    [5, 2, 1].some(function (step) {
      if (step * nice <= longest) { nice *= step; return true; }
      return false;
    });
    document.getElementById("scale-bar").style.width = (nice / metresPerPixel) + "px";
    text("scale-label", nice >= 1000 ? (nice / 1000) + " km" : nice + " m");
  }

  function draw() {
    var width = canvas.clientWidth, height = canvas.clientHeight, ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    if (!points.length) { return; }
    var v = view(width, height);
    drawTiles(v, width, height);
    drawScale(v, width);
    var screen = points.map(function (p) {
      var w = world(p);
      return { x: (w.x - v.cx) * v.scale + width / 2, y: (w.y - v.cy) * v.scale + height / 2 };
    });
    context.lineWidth = 4;
    context.lineJoin = "round";
    context.strokeStyle = "#1565c0";
    context.beginPath();
    screen.forEach(function (s, i) { if (i) { context.lineTo(s.x, s.y); } else { context.moveTo(s.x, s.y); } });
    context.stroke();
    context.fillStyle = "#2e7d32";
    context.beginPath();
    context.arc(screen[0].x, screen[0].y, 6, 0, 2 * Math.PI);
    context.fill();
    var marker = screen[screen.length - 1];
    context.fillStyle = "#d84315";
    context.strokeStyle = "#ffffff";
    context.lineWidth = 3;
    context.beginPath();
    context.arc(marker.x, marker.y, 9, 0, 2 * Math.PI);
    context.fill();
    context.stroke();
    var last = points[points.length - 1];
    canvas.dataset.markerLatitude = String(last.latitude);
    canvas.dataset.markerLongitude = String(last.longitude);
  }

  function onLocation(event) {
    lastEventId = event.lastEventId || lastEventId;
    root.dataset.lastEventId = lastEventId;
    add(JSON.parse(event.data));
    showFacts();
    draw();
    status("live", "live");
  }

  function connect() {
    var url = withToken("/v1/orders/" + encodeURIComponent(orderId) + "/live", { last_event_id: lastEventId });
    source = new EventSource(url);
    source.addEventListener("location", onLocation);
    source.addEventListener("end", function () {
      ended = true;
      source.close();
      status("ended", "delivered: the live stream has ended");
    });
    source.onopen = function () { status("live", "live"); };
    source.onerror = function () {
      if (ended) { return; }
      if (source.readyState === EventSource.CONNECTING) {
        status("reconnecting", "connection lost, reconnecting…");
        return;
      }
      // The server refused the stream (it then says why on a plain read) or is gone: try again later.
      source.close();
      fetch(withToken("/v1/orders/" + encodeURIComponent(orderId) + "/last-location")).then(function (answer) {
        if (answer.status === 401 || answer.status === 403) {
          return answer.json().then(function (body) { status("refused", body.message); });
        }
        status("reconnecting", answer.status === 404 ? "no report yet: waiting for the courier…" : "reconnecting…");
        window.setTimeout(connect, RETRY_MS);
      }, function () {
        status("reconnecting", "offline, reconnecting…");
        window.setTimeout(connect, RETRY_MS);
      });
    };
  }

  window.addEventListener("resize", function () { tileKey = ""; draw(); });
  connect();
}());
