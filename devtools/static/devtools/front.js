// Tabs switch the demo customer page between the v2 and the v1 widget.
(function () {
  'use strict';
  var frame = document.getElementById('customer-page');
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role=tab]'));
  tabs.forEach(function (tab) {
    tab.addEventListener('click', function () {
      tabs.forEach(function (other) { other.setAttribute('aria-selected', String(other === tab)); });
      frame.src = tab.dataset.src;
    });
  });
})();
