// Gesang resident page: small progressive helpers. The form works without any of this.
// 1. Photos are resized in the browser (long side 1600 px, JPEG) before upload.
// 2. "Use my position" fills the hidden lat/lng from the phone (WGS-84).
// 3. A tap on the map sets a pin there (the map is our own SVG; its frame is in data-frame).
// 4. Once a category and a place are known, similar open reports nearby are shown.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) return;
  var lat = document.getElementById("lat"), lng = document.getElementById("lng");
  var status = document.getElementById("position-status");
  var MAX_SIDE = 1600, MAX_PHOTOS = 6;
  document.documentElement.className += " js";

  function setPlace(la, ln) {
    lat.value = la.toFixed(6); lng.value = ln.toFixed(6);
    if (status) status.textContent = status.getAttribute("data-set") + " " + lat.value + ", " + lng.value;
    drawPin(la, ln);
    similar();
  }

  var btn = document.getElementById("use-position");
  if (btn && navigator.geolocation) {
    btn.addEventListener("click", function () {
      btn.disabled = true;
      navigator.geolocation.getCurrentPosition(function (p) {
        btn.disabled = false;
        setPlace(p.coords.latitude, p.coords.longitude);
      }, function () { btn.disabled = false; }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
  } else if (btn) { btn.hidden = true; }

  var fig = document.getElementById("pin-map");
  var svg = fig && fig.querySelector("svg");
  var frame = fig && fig.getAttribute("data-frame").split(",").map(Number);
  var pin = null;
  function drawPin(la, ln) {
    if (!svg || !frame || frame.length !== 4) return;
    var x = (ln - frame[0]) * frame[2] * frame[3], y = (frame[1] - la) * frame[3];
    if (!pin) {
      pin = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      pin.setAttribute("class", "rpin");
      pin.setAttribute("r", "9");
      svg.appendChild(pin);
    }
    pin.setAttribute("cx", x.toFixed(1)); pin.setAttribute("cy", y.toFixed(1));
  }
  if (svg && frame && frame.length === 4) {
    svg.addEventListener("click", function (ev) {
      var m = svg.getScreenCTM();
      if (!m) return;
      ev.preventDefault();
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(m.inverse());
      setPlace(frame[1] - p.y / frame[3], p.x / (frame[2] * frame[3]) + frame[0]);
    });
  }
  if (lat.value && lng.value) drawPin(Number(lat.value), Number(lng.value));

  var box = document.getElementById("similar"), boxText = document.getElementById("similar-text");
  function similar() {
    var cat = form.querySelector("input[name=category]:checked");
    if (!cat || !lat.value || !box || !window.fetch) return;
    fetch("/api/v1/public/similar?category=" + encodeURIComponent(cat.value) + "&lat=" + lat.value + "&lng=" + lng.value)
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (d) {
        box.hidden = !d.items.length;
        if (d.items.length) boxText.textContent = boxText.getAttribute("data-hint").replace("{n}", d.items.length);
      }).catch(function () {});
  }
  form.addEventListener("change", function (ev) { if (ev.target.name === "category") similar(); });

  // Resize photos before sending: a phone photo of 4 MB becomes about 300 KB.
  var photos = document.getElementById("photos");
  var ready = false;
  function shrink(file) {
    if (!window.createImageBitmap || !/^image\/(jpeg|png|webp)$/.test(file.type)) return Promise.resolve(file);
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bmp) {
      var k = Math.min(1, MAX_SIDE / Math.max(bmp.width, bmp.height));
      if (k === 1 && file.size < 1500000) return file;
      var c = document.createElement("canvas");
      c.width = Math.round(bmp.width * k); c.height = Math.round(bmp.height * k);
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      return new Promise(function (res) {
        c.toBlob(function (b) {
          res(b && b.size < file.size ? new File([b], file.name.replace(/\.\w+$/, "") + ".jpg", { type: "image/jpeg" }) : file);
        }, "image/jpeg", 0.8);
      });
    }).catch(function () { return file; });
  }
  form.addEventListener("submit", function (ev) {
    if (ready || !photos || !photos.files.length || !window.DataTransfer) return;
    ev.preventDefault();
    var files = Array.prototype.slice.call(photos.files, 0, MAX_PHOTOS);
    Promise.all(files.map(shrink)).then(function (out) {
      var dt = new DataTransfer();
      out.forEach(function (f) { dt.items.add(f); });
      photos.files = dt.files;
      ready = true;
      form.requestSubmit ? form.requestSubmit() : form.submit();
    });
  });
})();
