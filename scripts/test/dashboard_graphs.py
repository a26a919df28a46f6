"""Opens an app's page and the host page of hop's dashboard in Debian's headless Chromium, at
1280 and 420 px: reads the SVG graphs (titles, series drawn, markers), switches the window to
24 h, and keeps a screenshot of each. Prints one JSON object; the Swift integration test judges it."""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

base, user, password, app, shots = sys.argv[1:6]
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
seen = {"errors": []}


def graphs():
    out = []
    for svg in driver.find_elements(By.CSS_SELECTOR, "svg.graph"):
        out.append({
            "id": svg.get_attribute("id"),
            "title": svg.find_element(By.TAG_NAME, "title").get_attribute("textContent"),
            "desc": svg.find_element(By.TAG_NAME, "desc").get_attribute("textContent"),
            "bars": len(svg.find_elements(By.CSS_SELECTOR, "rect")) - 1,
            "paths": len(svg.find_elements(By.CSS_SELECTOR, "path")),
            "markers": [m.get_attribute("textContent") for m in svg.find_elements(By.CSS_SELECTOR, "g > title")],
            "width": svg.size["width"],
        })
    return out


try:
    wait = WebDriverWait(driver, 20)
    driver.get(base + "/login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: "Apps" in d.title)
    for width in (1280, 420):
        driver.set_window_size(width, 1000)
        t0 = time.time()
        driver.get(base + "/apps/" + app)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.graph"))
        seen["appLoadSeconds%d" % width] = time.time() - t0
        seen["appGraphs%d" % width] = graphs()
        seen["appScrollWidth%d" % width] = driver.execute_script("return document.documentElement.scrollWidth")
        seen["appInnerWidth%d" % width] = driver.execute_script("return window.innerWidth")
        el = driver.find_element(By.CSS_SELECTOR, ".graphs")
        driver.execute_script("arguments[0].scrollIntoView()", el)
        driver.save_screenshot("%s/dashboard-graphs-%d.png" % (shots, width))
    driver.set_window_size(1280, 1000)
    driver.find_element(By.LINK_TEXT, "24h").click()
    wait.until(lambda d: "range=24h" in d.current_url)
    seen["range24hCurrent"] = driver.find_element(By.CSS_SELECTOR, "p.ranges strong").text
    seen["range24hGraphs"] = len(driver.find_elements(By.CSS_SELECTOR, "svg.graph"))
    driver.find_element(By.LINK_TEXT, "Host").click()
    wait.until(lambda d: d.find_elements(By.ID, "shares"))
    seen["hostGraphs"] = graphs()
    seen["hostShares"] = driver.find_element(By.ID, "shares").text
    driver.save_screenshot("%s/dashboard-host-1280.png" % shots)
    driver.set_window_size(420, 1000)
    driver.refresh()
    wait.until(lambda d: d.find_elements(By.ID, "shares"))
    seen["hostScrollWidth420"] = driver.execute_script("return document.documentElement.scrollWidth")
    seen["hostInnerWidth420"] = driver.execute_script("return window.innerWidth")
    driver.save_screenshot("%s/dashboard-host-420.png" % shots)
except Exception as e:  # the test reports what was seen up to the failure
    seen["errors"].append(repr(e))
finally:
    driver.quit()
print(json.dumps(seen))
