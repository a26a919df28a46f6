"""Drives hop's dashboard in Debian's headless Chromium (via Debian's chromedriver) the way a
person would: log in, find the app and its URL, roll back with the button, see the new serving
generation and a log line, keep a screenshot; then post a form without its CSRF token.
Prints one JSON object with what it saw; the Swift integration test judges it."""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.support.ui import WebDriverWait

base, user, password, app, shot = sys.argv[1:6]
login_shot = shot.replace(".png", "-login.png")
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=420,900"):
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
seen = {}
try:
    # The rollback answers with a redirect to the app's page, so an element read while the new page
    # replaces the old one is stale: the waits retry on that instead of failing.
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))
    driver.get(base + "/")
    seen["redirectedToLogin"] = driver.current_url.endswith("/login")
    # A wrong password first: the form comes back with an error and the user name kept.
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: d.find_elements(By.NAME, "user"))
    seen["wrongPasswordKeepsUser"] = driver.find_element(By.NAME, "user").get_attribute("value")
    seen["wrongPasswordMessage"] = driver.find_element(By.TAG_NAME, "main").text
    driver.save_screenshot(login_shot)
    driver.find_element(By.NAME, "user").clear()
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    wait.until(lambda d: "Apps" in d.title)
    body = driver.find_element(By.TAG_NAME, "main").text
    seen["appsPageListsApp"] = app in body
    seen["appsPageText"] = body
    driver.find_element(By.LINK_TEXT, app).click()
    wait.until(lambda d: d.find_elements(By.ID, "serving"))
    seen["url"] = driver.find_element(By.ID, "url").text
    seen["appPageText"] = driver.find_element(By.TAG_NAME, "main").text
    seen["pageWidth"] = driver.execute_script("return document.documentElement.scrollWidth")
    seen["windowWidth"] = driver.execute_script("return window.innerWidth")
    before = driver.find_element(By.ID, "serving").text
    seen["servingBefore"] = int(before)
    buttons = driver.find_elements(By.CSS_SELECTOR, "button.rollback")
    seen["rollbackButtons"] = len(buttons)
    target = int(buttons[0].get_attribute("data-generation"))
    seen["rollbackTarget"] = target
    buttons[0].click()
    wait.until(lambda d: d.find_elements(By.ID, "serving") and d.find_element(By.ID, "serving").text != before)
    seen["servingAfter"] = int(wait.until(lambda d: d.find_element(By.ID, "serving").text))
    # The live log tail fills in through the API with the session cookie.
    deadline = time.time() + 20
    logs = ""
    while time.time() < deadline:
        try:
            logs = driver.find_element(By.ID, "logs").text
        except StaleElementReferenceException:
            time.sleep(0.2)
            continue
        if logs and "loading" not in logs and "no log lines" not in logs:
            break
        time.sleep(0.5)
    seen["logLine"] = logs.splitlines()[-1] if logs else ""
    seen["logLines"] = len(logs.splitlines())
    driver.save_screenshot(shot)
    # A form posted without its CSRF token is refused, and does nothing.
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/apps/' + arguments[0] + '/rollback', {method: 'POST', credentials: 'same-origin',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'to=1'})"
        ".then(r => done(r.status)).catch(e => done(String(e)));", app)
    seen["csrfLessPostStatus"] = status
    driver.refresh()
    seen["servingAfterCSRFLessPost"] = int(driver.find_element(By.ID, "serving").text)
    # The page's own script is the only script (CSP): an inline one would have been blocked.
    seen["csp"] = driver.execute_script("return document.querySelectorAll('script:not([src])').length")
finally:
    driver.quit()
print(json.dumps(seen))
