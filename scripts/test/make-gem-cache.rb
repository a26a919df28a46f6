#!/usr/bin/env ruby
# Packs gems installed by Debian's ruby-* packages back into .gem files, for a fixture's
# vendor/cache (there is no RubyGems registry here). Usage: make-gem-cache.rb OUTDIR NAME…
# Each gem is rebuilt from Debian's installed specification and files; the .gem files are committed
# with the fixture, so this runs only when the fixture is regenerated.
require "rubygems/package"
require "fileutils"
require "tmpdir"

out = File.expand_path(ARGV.shift)
specs = "/usr/share/rubygems-integration/all/specifications"
ARGV.each do |name|
  file = Dir["#{specs}/#{name}-[0-9]*.gemspec"].max or abort "no Debian gemspec for #{name}"
  spec = Gem::Specification.load(file)
  # Debian keeps the files either under rubygems-integration/all/gems/NAME-V or in vendor_ruby.
  roots = ["/usr/share/rubygems-integration/all/gems/#{spec.full_name}", "/usr/lib/ruby/vendor_ruby"]
  Dir.mktmpdir do |stage|
    lib = File.join(stage, "lib")
    FileUtils.mkdir_p(lib)
    gemdir = roots[0]
    if File.directory?(gemdir)
      FileUtils.cp_r(Dir["#{gemdir}/*"], stage)
    else
      FileUtils.cp_r(Dir["#{roots[1]}/#{name}", "#{roots[1]}/#{name}.rb"], lib)
    end
    # Debian moves gem executables to /usr/bin: put them back in the gem's bindir.
    spec.executables.each do |e|
      target = File.join(stage, spec.bindir, e)
      next if File.file?(target) || !File.file?("/usr/bin/#{e}")
      FileUtils.mkdir_p(File.dirname(target))
      File.write(target, File.read("/usr/bin/#{e}").sub(/\A#!.*\n/, "#!/usr/bin/env ruby\n"))
    end
    Dir.chdir(stage) do
      spec.files = Dir["**/*"].select { |f| File.file?(f) }.sort
      spec.executables = spec.executables.select { |e| File.file?(File.join(spec.bindir, e)) }
      # Fixed mtimes: the same inputs give the same .gem bytes.
      spec.date = Time.utc(2020, 1, 1)
      ENV["SOURCE_DATE_EPOCH"] = "1577836800"
      built = Gem::Package.build(spec)
      FileUtils.mv(built, File.join(out, File.basename(built)))
      puts File.join(out, File.basename(built))
    end
  end
end
